package node

import (
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/clientip"
	"github.com/weft-dev/weft/cmd/weft/internal/httpjson"
	"github.com/weft-dev/weft/cmd/weft/internal/limits"
	"github.com/weft-dev/weft/cmd/weft/internal/metrics"
	"github.com/weft-dev/weft/cmd/weft/internal/wstransport"
	editorweb "github.com/weft-dev/weft/editor-web"
	"github.com/weft-dev/weft/session"
)

// handlerDeps are the parts the router hands requests to.
type handlerDeps struct {
	ws      *wstransport.Transport
	mgr     *session.Manager
	store   session.Store
	ready   *atomic.Bool
	metrics *metrics.Metrics
	log     *slog.Logger
	version string
	// frameAncestors is the CSP frame-ancestors list for the editor pages.
	frameAncestors string
	// auth verifies tokens; nil is the open mode.
	auth *auth.Authenticator
	// checkOrigin is the upgrade's origin check (also for refused upgrades).
	checkOrigin func(*http.Request) bool
	// admission admits new connections; nil admits all.
	admission *limits.Admission
	// api serves /api/.
	api http.Handler
}

// newHandler routes: WebSocket upgrades on any path (Node clients crash on
// a refused upgrade, PROTOCOL.md §6), health, metrics, then the editor.
func newHandler(d handlerDeps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Write(w, http.StatusOK, map[string]any{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.ready.Load() {
			httpjson.Write(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready"})
			return
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"status": "ready"})
	})
	mux.Handle("GET /metrics", d.metrics.Handler())
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st := d.mgr.Stats()
		httpjson.Write(w, http.StatusOK, map[string]any{
			"storageId": d.store.StorageID(), "peerId": d.mgr.PeerID(), "version": d.version,
			"connections": st.Clients, "openDocuments": st.Docs, "editorBuilt": editorweb.Built(),
		})
	})
	mux.Handle("/api/", d.api)
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
		release, refused = d.admission.Admit(clientip.RemoteIP(r))
		if refused != "" {
			d.log.Warn("connection refused by a limit", "audit", "limit_"+refused, "remote", clientip.RemoteIP(r))
			d.metrics.Refused(refused)
			wstransport.Refuse(w, r, d.checkOrigin, session.ErrCloseTryAgainLater)
			return
		}
	}
	grant, err := d.auth.Authenticate(r)
	if err != nil {
		release()
		d.log.Warn("authentication failed", "audit", "auth_failed", "remote", clientip.RemoteIP(r), "reason", auth.Reason(err), "err", err)
		d.metrics.Refused("auth")
		wstransport.Refuse(w, r, d.checkOrigin, session.ErrCloseUnauthorized.With(auth.Reason(err)))
		return
	}
	d.ws.Serve(w, r, grant, release)
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
