package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/httpjson"
	"github.com/weft-dev/weft/cmd/weft/internal/limits"
	"github.com/weft-dev/weft/cmd/weft/internal/metrics"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage"
)

// Config is what the API needs from the node.
type Config struct {
	Manager *session.Manager
	Logger  *slog.Logger
	// Done is closed when the server shuts down: streams and long polls end.
	Done <-chan struct{}
	// Extra are more GET routes under /api/ (pattern → handler) from other
	// parts (backup, webhook deliveries); they need admin on "*".
	Extra map[string]http.Handler
	// Auth verifies tokens; nil is the open mode.
	Auth *auth.Authenticator
	// Limiter bounds API calls per client IP; nil: no limit.
	Limiter *limits.APILimiter
	// CheckOrigin is the origin check of browser writes (nil: any).
	CheckOrigin func(*http.Request) bool
	// Metrics counts refusals; nil: not counted.
	Metrics *metrics.Metrics
	// Log is the documents' shared log in a cluster: event streams follow
	// it (resumable with Last-Event-ID on any node). nil on a single node.
	Log Log
}

// API serves /api/. Its handlers run on the HTTP server's goroutines and
// share nothing mutable but what session.Manager guards.
type API struct {
	mgr  *session.Manager
	log  *slog.Logger
	done <-chan struct{}
	// extra routes from other parts (backup, webhook deliveries).
	extra map[string]http.Handler

	auth        *auth.Authenticator
	limiter     *limits.APILimiter
	checkOrigin func(*http.Request) bool
	metrics     *metrics.Metrics
	docLog      Log // nil on a single node
}

// New returns the API of cfg.
func New(cfg Config) *API {
	return &API{mgr: cfg.Manager, log: cfg.Logger, done: cfg.Done, extra: cfg.Extra,
		auth: cfg.Auth, limiter: cfg.Limiter, checkOrigin: cfg.CheckOrigin, metrics: cfg.Metrics, docLog: cfg.Log}
}

// Handler serves /api/: every route behind the guard (rate limit,
// authentication, cross-origin writes, body size).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.routes(mux)
	return a.guard(mux)
}

// Register registers the routes, unguarded, on mux (tests look up which
// pattern serves a path).
func (a *API) Register(mux *http.ServeMux) { a.routes(mux) }

// Limits of the API.
const (
	maxUpload     = 100 << 20 // PUT /binary
	maxHistory    = 1000      // changes per history page
	maxListPage   = 1000      // documents per list page
	maxSyncWait   = 60 * time.Second
	sseKeepAlive  = 15 * time.Second
	sseBuffer     = 256 // events a slow SSE reader may fall behind by
	defaultText   = "/text"
	apiCallBudget = 60 * time.Second
)

// routes registers the API on mux.
func (a *API) routes(mux *http.ServeMux) {
	handle := func(pattern string, methods map[string]http.HandlerFunc) {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		slices.Sort(allow)
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			h, ok := methods[r.Method]
			if !ok && r.Method == http.MethodHead {
				h, ok = methods[http.MethodGet]
			}
			if !ok {
				w.Header().Set("Allow", strings.Join(allow, ", "))
				httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; allowed: "+strings.Join(allow, ", "))
				return
			}
			h(w, r)
		})
	}
	handle("/api/openapi.json", map[string]http.HandlerFunc{"GET": a.openapi})
	handle("/api/me", map[string]http.HandlerFunc{"GET": a.me})
	handle("/api/docs", map[string]http.HandlerFunc{"GET": a.list, "POST": a.create})
	handle("/api/docs/{id}", map[string]http.HandlerFunc{"GET": a.get, "DELETE": a.delete})
	handle("/api/docs/{id}/text", map[string]http.HandlerFunc{"GET": a.text})
	handle("/api/docs/{id}/binary", map[string]http.HandlerFunc{"GET": a.binary, "PUT": a.upload})
	handle("/api/docs/{id}/changes", map[string]http.HandlerFunc{"POST": a.changes})
	handle("/api/docs/{id}/history", map[string]http.HandlerFunc{"GET": a.history})
	handle("/api/docs/{id}/restore", map[string]http.HandlerFunc{"POST": a.restore})
	handle("/api/docs/{id}/versions", map[string]http.HandlerFunc{"GET": a.versions, "POST": a.putVersion})
	handle("/api/docs/{id}/events", map[string]http.HandlerFunc{"GET": a.events})
	handle("/api/docs/{id}/sync", map[string]http.HandlerFunc{"POST": a.sync})
	for pattern, h := range a.extra {
		handle(pattern, map[string]http.HandlerFunc{"GET": requireAdmin(h)})
	}
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "no such API endpoint; see /api/openapi.json")
	})
}

func requestAuth(r *http.Request) *session.Auth { return auth.FromContext(r.Context()) }

// role is the caller's role on doc; the open mode (no auth) is admin.
func role(r *http.Request, doc string) session.Role {
	a := requestAuth(r)
	if a == nil {
		return session.RoleAdmin
	}
	return a.Role(doc)
}

// requireAdmin guards node-wide operations (backup, webhook deliveries):
// they need admin on every document ("*").
func requireAdmin(h http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if role(r, "*") < session.RoleAdmin {
			httpjson.Error(w, http.StatusForbidden, "forbidden", `this needs admin access to "*"`)
			return
		}
		h.ServeHTTP(w, r)
	}
}

// DeliveriesHandler serves GET /api/webhooks/deliveries?doc=&limit=: the
// recent webhook deliveries, newest first.
func DeliveriesHandler(d *webhook.Dispatcher) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, ok := intParam(w, r.URL.Query().Get("limit"), "limit", 100, 1, 1000)
		if !ok {
			return
		}
		out := []webhook.Delivery{}
		if d != nil {
			out = append(out, d.Deliveries(r.URL.Query().Get("doc"), limit)...)
		}
		httpjson.Write(w, http.StatusOK, map[string]any{"deliveries": out, "configured": d != nil})
	})
}

// authorize checks the caller's role on the request's document and writes
// the error when it falls short: 404 without read (no hint the document
// exists), 403 otherwise.
func authorize(w http.ResponseWriter, r *http.Request, doc string, need session.Role) bool {
	have := role(r, doc)
	switch {
	case have >= need:
		return true
	case have == session.RoleNone:
		httpjson.Error(w, http.StatusNotFound, "not_found", "no such document")
	default:
		httpjson.Error(w, http.StatusForbidden, "forbidden", fmt.Sprintf("this needs %s access to the document; you have %s", need, have))
	}
	return false
}

// docID returns the {id} path value when it is a valid document id, else
// writes a 404.
func docID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !crdt.ValidDocumentID(id) {
		httpjson.Error(w, http.StatusNotFound, "not_found", "not a document id: "+truncateString(id, 80))
		return "", false
	}
	return id, true
}

// ctx bounds an API call and ends it when the server shuts down.
func (a *API) ctx(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(r.Context(), d)
	go func() {
		select {
		case <-a.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// fail maps an error to its status and JSON body. Internal errors are
// logged, never shown.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		status int
		code   string
		msg    = err.Error()
		maxErr *http.MaxBytesError
	)
	switch {
	case errors.As(err, &maxErr):
		status, code, msg = http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", maxErr.Limit)
	case errors.Is(err, session.ErrNotFound):
		status, code, msg = http.StatusNotFound, "not_found", "no such document"
	case errors.Is(err, session.ErrForbidden):
		status, code = http.StatusForbidden, "forbidden"
	case errors.Is(err, session.ErrMoved):
		status, code = http.StatusPreconditionFailed, "heads_moved"
	case errors.Is(err, session.ErrExists):
		status, code = http.StatusConflict, "exists"
	case errors.Is(err, session.ErrPeerClosed):
		status, code = http.StatusConflict, "sync_session_ended"
	case errors.Is(err, crdt.ErrBadEdit):
		status, code = http.StatusBadRequest, "bad_edit"
	case errors.Is(err, crdt.ErrTooLarge):
		status, code = http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, crdt.ErrBadMessage), errors.Is(err, crdt.ErrCorrupt):
		status, code = http.StatusBadRequest, "bad_automerge_data"
	case errors.Is(err, crdt.ErrCrashed):
		status, code, msg = http.StatusBadRequest, "bad_automerge_data", "the data crashed the document engine (in an isolated worker); nothing was changed"
	case errors.Is(err, storage.ErrInvalid):
		status, code = http.StatusBadRequest, "invalid"
	case errors.Is(err, session.ErrShutdown), errors.Is(err, session.ErrUnavailable):
		status, code, msg = http.StatusServiceUnavailable, "unavailable", "the document is unavailable right now; try again"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		status, code, msg = http.StatusServiceUnavailable, "unavailable", "the server did not finish in time; try again"
	default:
		a.log.Error("API call failed", "method", r.Method, "path", r.URL.Path, "err", err)
		status, code, msg = http.StatusInternalServerError, "internal", "internal error"
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	httpjson.Error(w, status, code, msg)
}

// badRequest writes a 400 with code "bad_request".
func badRequest(w http.ResponseWriter, format string, args ...any) {
	httpjson.Error(w, http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...))
}

// decodeBody reads a JSON body into v, strictly: unknown fields and
// trailing data are errors.
func (a *API) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("trailing data after the JSON value")
	}
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			a.fail(w, r, err)
			return false
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("empty body")
		}
		badRequest(w, "invalid JSON body: %v", err)
		return false
	}
	return true
}

// headsParam parses heads from a query parameter or header value.
func headsParam(w http.ResponseWriter, name, v string) (crdt.Heads, bool) {
	hs, err := crdt.ParseHeads(strings.Trim(v, `"`))
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "bad_heads", fmt.Sprintf("%s: %v (want comma-separated hex change hashes)", name, err))
		return nil, false
	}
	return hs, true
}

// notModified sets the heads headers and answers 304 when the request's
// If-None-Match names these heads.
func notModified(w http.ResponseWriter, r *http.Request, hs crdt.Heads) bool {
	setHeads(w, hs)
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Trim(inm, `"`) == hs.String() {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return false
}

func setHeads(w http.ResponseWriter, hs crdt.Heads) {
	w.Header().Set("ETag", `"`+hs.String()+`"`)
	w.Header().Set("X-Weft-Heads", hs.String())
}

//go:embed openapi.json
var openapiJSON []byte

// OpenAPIDocument is openapi.json, the API's description (a copy).
func OpenAPIDocument() []byte { return append([]byte(nil), openapiJSON...) }

// GET /api/openapi.json
func (a *API) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiJSON)
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
