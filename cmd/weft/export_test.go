package main

import (
	"net/http"
	"net/http/httptest"

	"github.com/weft-dev/weft/cmd/weft/internal/api"
)

// apiPattern is the ServeMux pattern (*api.API).routes registers that
// serves method on path, or "" when none but the catch-all "/api/" does.
// extra are GET routes as in api.Config.Extra. For tests only.
func apiPattern(method, path string, extra map[string]http.Handler) string {
	mux := http.NewServeMux()
	api.New(api.Config{Extra: extra}).Register(mux)
	_, pattern := mux.Handler(httptest.NewRequest(method, path, nil))
	if pattern == "/api/" {
		return ""
	}
	return pattern
}
