package main

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/olahol/melody"

	editorweb "github.com/weft-dev/weft/editor-web"
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
	// frameAncestors is the CSP frame-ancestors list for the editor pages.
	frameAncestors string
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
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := d.mgr.Stats()
		writeJSON(w, http.StatusOK, map[string]any{
			"storageId": d.store.StorageID(), "peerId": d.mgr.PeerID(), "version": version,
			"connections": st.Clients, "openDocuments": st.Docs, "editorBuilt": editorweb.Built(),
		})
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API endpoint")
	})
	// Everything else is the editor: its pages, hashed assets, and
	// index.html for app routes such as /d/<documentId>.
	mux.Handle("/", editorweb.Handler(editorweb.Options{Logger: d.log, FrameAncestors: d.frameAncestors}))
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
