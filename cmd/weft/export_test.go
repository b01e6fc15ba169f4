package main

import (
	"net/http"
	"net/http/httptest"
)

// apiPattern is the ServeMux pattern (*api).routes registers that serves
// method on path, or "" when none but the catch-all "/api/" does. extra
// are GET routes as in handlerDeps.apiExtra. For tests only.
func apiPattern(method, path string, extra map[string]http.Handler) string {
	mux := http.NewServeMux()
	(&api{extra: extra}).routes(mux)
	_, pattern := mux.Handler(httptest.NewRequest(method, path, nil))
	if pattern == "/api/" {
		return ""
	}
	return pattern
}
