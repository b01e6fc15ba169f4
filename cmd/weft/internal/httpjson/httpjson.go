package httpjson

import (
	"encoding/json"
	"net/http"
)

// Write answers code with v as JSON.
func Write(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Error writes the API's error shape: {"error":{"code","message"}}.
func Error(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
