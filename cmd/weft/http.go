package main

import (
	"context"
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
	// auth verifies tokens; nil is the open mode.
	auth *authenticator
	// checkOrigin is the upgrade's origin check (also for refused upgrades).
	checkOrigin func(*http.Request) bool
	// admission admits new connections; nil admits all.
	admission *admission
	// done is closed when the server shuts down (ends API streams).
	done <-chan struct{}
	// apiExtra are more GET routes under /api/ (pattern → handler).
	apiExtra map[string]http.Handler
	// apiLimit bounds API calls per client IP; nil: no limit.
	apiLimit *apiLimiter
}

// maxAPIBody bounds a request body on /api/.
const maxAPIBody = 1 << 20

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
	apiMux := http.NewServeMux()
	(&api{mgr: d.mgr, log: d.log, done: d.done, extra: d.apiExtra}).routes(apiMux)
	mux.Handle("/api/", d.apiAuth(apiMux))
	// Everything else is the editor: its pages, hashed assets, and
	// index.html for app routes such as /d/<documentId>.
	mux.Handle("/", editorweb.Handler(editorweb.Options{Logger: d.log, FrameAncestors: d.frameAncestors}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			d.upgrade(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// upgrade authenticates a WebSocket upgrade and hands it to melody. A
// refused one is still upgraded, then closed with a close code and reason:
// automerge-repo's Node client crashes on an HTTP error (PROTOCOL.md §6).
func (d handlerDeps) upgrade(w http.ResponseWriter, r *http.Request) {
	release := func() {}
	if d.admission != nil {
		var refused string
		release, refused = d.admission.admit(remoteIP(r))
		if refused != "" {
			d.log.Warn("connection refused by a limit", "audit", "limit_"+refused, "remote", remoteIP(r))
			d.metrics.refused.WithLabelValues(refused).Inc()
			refuseUpgrade(w, r, d.checkOrigin, session.CloseTryAgainLater, "try again later")
			return
		}
	}
	auth, err := d.auth.authenticate(r)
	if err != nil {
		release()
		d.log.Warn("authentication failed", "audit", "auth_failed", "remote", remoteIP(r), "reason", authReason(err), "err", err)
		d.metrics.refused.WithLabelValues("auth").Inc()
		refuseUpgrade(w, r, d.checkOrigin, session.CloseUnauthorized, authReason(err))
		return
	}
	upgrade(d.mel, w, r, auth, release, d.log)
}

// apiAuth requires a valid token on every API call (when auth is on) and
// bounds request bodies.
func (d handlerDeps) apiAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := d.apiLimit.allow(remoteIP(r)); !ok {
			d.log.Warn("API call over the rate limit", "audit", "limit_api_rate", "remote", remoteIP(r), "path", r.URL.Path)
			d.metrics.refused.WithLabelValues("api_rate").Inc()
			w.Header().Set("Retry-After", retryAfter(wait))
			writeError(w, http.StatusTooManyRequests, "rate_limited", "too many API calls from this address; retry after "+retryAfter(wait)+"s")
			return
		}
		if r.URL.Path == "/api/openapi.json" {
			next.ServeHTTP(w, r) // the description is public
			return
		}
		auth, err := d.auth.authenticate(r)
		if err != nil {
			d.log.Warn("authentication failed", "audit", "auth_failed", "remote", remoteIP(r), "path", r.URL.Path, "reason", authReason(err), "err", err)
			d.metrics.refused.WithLabelValues("auth").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="weft"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", authReason(err))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("Origin") != "" &&
			d.checkOrigin != nil && !d.checkOrigin(r) {
			// The token may come from a cookie: refuse cross-site writes.
			d.log.Warn("cross-origin API write refused", "audit", "cross_origin", "remote", remoteIP(r), "origin", r.Header.Get("Origin"))
			writeError(w, http.StatusForbidden, "cross_origin", "cross-origin requests may not change documents")
			return
		}
		if !(r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/binary")) {
			// Uploads set their own, larger limit.
			r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), authKey{}, auth)))
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
