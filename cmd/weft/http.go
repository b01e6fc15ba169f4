package main

import (
	"encoding/json"
	"fmt"
	"html"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/olahol/melody"

	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
)

type readiness struct{ ok atomic.Bool }

func (r *readiness) set(v bool) { r.ok.Store(v) }

type handlerDeps struct {
	mel     *melody.Melody
	mgr     *session.Manager
	store   *storage.Store
	ready   *readiness
	metrics *metrics
	log     *slog.Logger
}

// newHandler routes: WebSocket upgrades on any path (Node clients crash on
// a refused upgrade, PROTOCOL.md §6), health, metrics, then the editor.
func newHandler(d handlerDeps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.ready.ok.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready"})
	})
	mux.Handle("GET /metrics", d.metrics.handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			writeError(w, http.StatusNotFound, "not_found", "no such page")
			return
		}
		st := d.mgr.Stats()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, statusPage, html.EscapeString(d.store.StorageID()), st.Clients, st.Docs)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			upgrade(d.mel, w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeError writes the API's error shape: {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

const statusPage = `<!doctype html><meta charset="utf-8"><title>weft</title>
<body style="font-family:system-ui;max-width:40em;margin:3em auto;line-height:1.5">
<h1>weft is running</h1>
<p>Point an automerge-repo client's WebSocket adapter at this address.</p>
<p>storage id <code>%s</code> · %d connections · %d open documents</p>
<p><a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/metrics">/metrics</a></p>`
