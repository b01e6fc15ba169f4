package main

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage"
)

// The HTTP API for programs (/api/…): documents, server-side edits,
// history, change feeds and sync without WebSockets. Every call is
// authenticated like an upgrade (apiAuth) and authorized per document with
// the token's roles; a document the caller may not read is a 404, exactly
// like a missing one. Heads appear in one form everywhere: comma-separated
// hex hashes (JSON strings, ?at=, ETag, X-Weft-Heads, If-Match).

// api serves /api/. Its handlers run on the HTTP server's goroutines and
// share nothing mutable but what session.Manager guards.
type api struct {
	mgr *session.Manager
	log *slog.Logger
	// done is closed when the server shuts down: streams and long polls end.
	done <-chan struct{}
	// extra routes from other parts (backup, webhook deliveries).
	extra map[string]http.Handler
}

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
func (a *api) routes(mux *http.ServeMux) {
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
				writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; allowed: "+strings.Join(allow, ", "))
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
		writeError(w, http.StatusNotFound, "not_found", "no such API endpoint; see /api/openapi.json")
	})
}

// authKey carries the verified *session.Auth of an API request.
type authKey struct{}

func requestAuth(r *http.Request) *session.Auth {
	a, _ := r.Context().Value(authKey{}).(*session.Auth)
	return a
}

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
			writeError(w, http.StatusForbidden, "forbidden", `this needs admin access to "*"`)
			return
		}
		h.ServeHTTP(w, r)
	}
}

// deliveriesHandler serves GET /api/webhooks/deliveries?doc=&limit=: the
// recent webhook deliveries, newest first.
func deliveriesHandler(d *webhook.Dispatcher) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, ok := intParam(w, r.URL.Query().Get("limit"), "limit", 100, 1, 1000)
		if !ok {
			return
		}
		out := []webhook.Delivery{}
		if d != nil {
			out = append(out, d.Deliveries(r.URL.Query().Get("doc"), limit)...)
		}
		writeJSON(w, http.StatusOK, map[string]any{"deliveries": out, "configured": d != nil})
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
		writeError(w, http.StatusNotFound, "not_found", "no such document")
	default:
		writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("this needs %s access to the document; you have %s", need, have))
	}
	return false
}

// docID returns the {id} path value when it is a valid document id, else
// writes a 404.
func docID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !crdt.ValidDocumentID(id) {
		writeError(w, http.StatusNotFound, "not_found", "not a document id: "+truncateString(id, 80))
		return "", false
	}
	return id, true
}

// ctx bounds an API call and ends it when the server shuts down.
func (a *api) ctx(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
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
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
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
	writeError(w, status, code, msg)
}

// badRequest writes a 400 with code "bad_request".
func badRequest(w http.ResponseWriter, format string, args ...any) {
	writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf(format, args...))
}

// decodeBody reads a JSON body into v, strictly: unknown fields and
// trailing data are errors.
func (a *api) decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
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
		writeError(w, http.StatusBadRequest, "bad_heads", fmt.Sprintf("%s: %v (want comma-separated hex change hashes)", name, err))
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

// GET /api/openapi.json
func (a *api) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiJSON)
}

// GET /api/me: who the caller is and, with ?doc=, their role on it.
func (a *api) me(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"user": "", "name": "", "auth": "none"}
	if au := requestAuth(r); au != nil {
		out["user"], out["name"], out["auth"] = au.User, au.Name, "jwt"
	}
	if doc := r.URL.Query().Get("doc"); doc != "" {
		out["role"] = role(r, doc).String()
	}
	writeJSON(w, http.StatusOK, out)
}

// docInfo is a document in lists and on creation.
type docInfo struct {
	ID      string     `json:"id"`
	URL     string     `json:"url"`
	Heads   crdt.Heads `json:"heads,omitempty"`
	Created *time.Time `json:"created,omitempty"`
	Updated *time.Time `json:"updated,omitempty"`
	Size    int64      `json:"size,omitempty"`
	Changes int        `json:"changes,omitempty"`
}

// GET /api/docs?limit=&cursor=&sort=id|updated|-updated
func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, ok := intParam(w, q.Get("limit"), "limit", 100, 1, maxListPage)
	if !ok {
		return
	}
	offset := 0
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		n, perr := strconv.Atoi(string(b))
		if err != nil || perr != nil || n < 0 {
			badRequest(w, "invalid cursor")
			return
		}
		offset = n
	}
	sortBy := q.Get("sort")
	if sortBy == "" {
		sortBy = "id"
	}
	if sortBy != "id" && sortBy != "updated" && sortBy != "-updated" {
		badRequest(w, "sort must be id, updated or -updated")
		return
	}
	// All metadata, filtered by access, then sorted and paged: fine for the
	// tens of thousands of documents one bbolt file holds comfortably.
	metas, err := a.mgr.List("", 0)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	metas = slices.DeleteFunc(metas, func(m storage.DocMeta) bool { return role(r, m.ID) < session.RoleRead })
	switch sortBy {
	case "updated":
		slices.SortStableFunc(metas, func(x, y storage.DocMeta) int { return x.Updated.Compare(y.Updated) })
	case "-updated":
		slices.SortStableFunc(metas, func(x, y storage.DocMeta) int { return y.Updated.Compare(x.Updated) })
	}
	docs := []docInfo{}
	for i := offset; i < len(metas) && len(docs) < limit; i++ {
		m := metas[i]
		docs = append(docs, docInfo{ID: m.ID, URL: "automerge:" + m.ID, Created: &m.Created, Updated: &m.Updated, Size: m.Size, Changes: m.Changes})
	}
	next := ""
	if offset+len(docs) < len(metas) {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset + len(docs))))
	}
	writeJSON(w, http.StatusOK, map[string]any{"docs": docs, "next": next, "total": len(metas)})
}

// intParam parses an optional integer query parameter within [lo, hi].
func intParam(w http.ResponseWriter, v, name string, def, lo, hi int) (int, bool) {
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		badRequest(w, "%s must be an integer from %d to %d", name, lo, hi)
		return 0, false
	}
	return n, true
}

// POST /api/docs {"content": {...}, "message": "..."}
func (a *api) create(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Content map[string]json.RawMessage `json:"content"`
		Message string                     `json:"message"`
	}
	if !a.decodeBody(w, r, &body) {
		return
	}
	if len(body.Content) == 0 {
		badRequest(w, `content must be a JSON object with at least one key, e.g. {"content": {"title": "Notes", "text": ""}}`)
		return
	}
	id := crdt.NewDocumentID()
	if role(r, id) < session.RoleWrite {
		// Creating needs write on a document id nobody knows yet: "*".
		writeError(w, http.StatusForbidden, "forbidden", `creating documents needs write access to "*"`)
		return
	}
	keys := make([]string, 0, len(body.Content))
	for k := range body.Content {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ops := make([]crdt.Op, len(keys))
	for i, k := range keys {
		ops[i] = crdt.Op{Op: "set", Path: "/" + escapePointer(k), Value: body.Content[k]}
	}
	msg := body.Message
	if msg == "" {
		msg = "Created through the API"
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	res, err := a.mgr.Edit(ctx, session.EditRequest{Doc: id, Ops: ops, Message: msg, Create: true})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/docs/"+id)
	setHeads(w, res.Heads)
	writeJSON(w, http.StatusCreated, docInfo{ID: id, URL: "automerge:" + id, Heads: res.Heads})
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// view parameters shared by GET /api/docs/{id} and /text.
func (a *api) view(w http.ResponseWriter, r *http.Request, text bool) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleRead) {
		return
	}
	q := r.URL.Query()
	v := crdt.View{Doc: id, Path: q.Get("path"), Text: text}
	if text && v.Path == "" {
		v.Path = defaultText
	}
	if at := q.Get("at"); at != "" {
		if v.At, ok = headsParam(w, "at", at); !ok {
			return
		}
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	body, heads, err := a.mgr.View(ctx, v)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if v.At != nil {
		heads = v.At
		// A past version never changes.
		w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if notModified(w, r, heads) {
		return
	}
	if text {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Write(body)
}

// GET /api/docs/{id}?at=&path=
func (a *api) get(w http.ResponseWriter, r *http.Request) { a.view(w, r, false) }

// GET /api/docs/{id}/text?path=/text&at=
func (a *api) text(w http.ResponseWriter, r *http.Request) { a.view(w, r, true) }

// DELETE /api/docs/{id} (admin)
func (a *api) delete(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleAdmin) {
		return
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	if err := a.mgr.Delete(ctx, id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /api/docs/{id}/binary: the Automerge file.
func (a *api) binary(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleRead) {
		return
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	data, heads, err := a.mgr.Binary(ctx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if notModified(w, r, heads) {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.automerge"`)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.Write(data)
}

// PUT /api/docs/{id}/binary: merge an Automerge file (or changes).
func (a *api) upload(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleWrite) {
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxUpload))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(data) == 0 {
		badRequest(w, "empty body: send an Automerge file")
		return
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	res, created, err := a.mgr.Upload(ctx, id, data)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(res.Heads) == 0 {
		badRequest(w, "the upload holds no changes the document can use (missing dependencies?)")
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	setHeads(w, res.Heads)
	writeJSON(w, status, map[string]any{"id": id, "heads": res.Heads, "changed": res.Changed})
}

// POST /api/docs/{id}/changes
// {"message": "...", "ops": [...], "baseHeads": "h1,h2", "ifHeads": "h1,h2"}
func (a *api) changes(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleWrite) {
		return
	}
	var body struct {
		Message   string      `json:"message"`
		Ops       []crdt.Op   `json:"ops"`
		BaseHeads *crdt.Heads `json:"baseHeads"`
		IfHeads   *crdt.Heads `json:"ifHeads"`
	}
	if !a.decodeBody(w, r, &body) {
		return
	}
	if len(body.Ops) == 0 {
		badRequest(w, "ops must list at least one operation")
		return
	}
	req := session.EditRequest{Doc: id, Ops: body.Ops, Message: body.Message}
	if body.BaseHeads != nil {
		req.Base = *body.BaseHeads
	}
	if body.IfHeads != nil {
		req.IfHeads = *body.IfHeads
	}
	if im := r.Header.Get("If-Match"); im != "" && req.IfHeads == nil {
		if req.IfHeads, ok = headsParam(w, "If-Match", im); !ok {
			return
		}
	}
	a.edit(w, r, req)
}

func (a *api) edit(w http.ResponseWriter, r *http.Request, req session.EditRequest) {
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	res, err := a.mgr.Edit(ctx, req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	setHeads(w, res.Heads)
	writeJSON(w, http.StatusOK, map[string]any{"heads": res.Heads, "changed": res.Changed})
}

// GET /api/docs/{id}/history?limit=&skip=
func (a *api) history(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleRead) {
		return
	}
	q := r.URL.Query()
	limit, ok := intParam(w, q.Get("limit"), "limit", 100, 1, maxHistory)
	if !ok {
		return
	}
	skip, ok := intParam(w, q.Get("skip"), "skip", 0, 0, 1<<31-1)
	if !ok {
		return
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	page, total, err := a.mgr.History(ctx, crdt.HistoryQuery{Doc: id, Skip: skip, Limit: limit})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if page == nil {
		page = []crdt.ChangeMeta{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"changes": page, "total": total})
}

// POST /api/docs/{id}/restore {"heads": "h1,h2", "message": "..."}
func (a *api) restore(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleWrite) {
		return
	}
	var body struct {
		Heads   *crdt.Heads `json:"heads"`
		Message string      `json:"message"`
	}
	if !a.decodeBody(w, r, &body) {
		return
	}
	if body.Heads == nil || len(*body.Heads) == 0 {
		badRequest(w, "heads (the version to restore) is required")
		return
	}
	if body.Message == "" {
		body.Message = "Restore " + shortHeads(*body.Heads)
	}
	a.edit(w, r, session.EditRequest{Doc: id, Restore: *body.Heads, Message: body.Message})
}

func shortHeads(hs crdt.Heads) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()[:8]
	}
	return strings.Join(s, ",")
}

// GET /api/docs/{id}/versions
func (a *api) versions(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleRead) {
		return
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	vs, err := a.mgr.Versions(ctx, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if vs == nil {
		vs = []storage.Version{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"versions": vs})
}

// POST /api/docs/{id}/versions {"name": "...", "heads": "h1,h2"?, "message": "..."?}
func (a *api) putVersion(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleWrite) {
		return
	}
	var body struct {
		Name    string      `json:"name"`
		Heads   *crdt.Heads `json:"heads"`
		Message string      `json:"message"`
	}
	if !a.decodeBody(w, r, &body) {
		return
	}
	body.Name = strings.TrimSpace(body.Name)
	if body.Name == "" || len(body.Name) > storage.MaxVersionName {
		badRequest(w, "name must be 1 to %d bytes", storage.MaxVersionName)
		return
	}
	v := storage.Version{Name: body.Name, Message: body.Message}
	if au := requestAuth(r); au != nil {
		v.User = au.User
	}
	var heads crdt.Heads
	if body.Heads != nil && len(*body.Heads) > 0 {
		heads = *body.Heads
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	v, err := a.mgr.PutVersion(ctx, id, v, heads)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// GET /api/docs/{id}/events: Server-Sent Events. A "ready" event with the
// current heads, then "change", "join" and "leave" events as they happen
// on this node (changes from every node, presence of this node's peers).
// A reader that falls sseBuffer events behind gets a "lagged" event and
// the stream ends; it reconnects and re-reads the document.
func (a *api) events(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleRead) {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, "internal", "streaming unsupported")
		return
	}
	ch := make(chan session.Event, sseBuffer)
	lagged := make(chan struct{})
	var lagOnce sync.Once
	// Subscribe before reading the heads: no change falls in between.
	cancelSub := a.mgr.Subscribe(id, func(ev session.Event) {
		select {
		case ch <- ev:
		default:
			lagOnce.Do(func() { close(lagged) })
		}
	})
	defer cancelSub()
	ctx, cancel := a.ctx(r, apiCallBudget)
	heads, err := a.mgr.Heads(ctx, id)
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	writeSSE(w, "ready", "", map[string]any{"documentId": id, "heads": heads})
	flusher.Flush()
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	for {
		select {
		case ev := <-ch:
			writeSSE(w, ev.Type, ev.Heads.String(), ev)
			// Send what queued meanwhile in the same flush.
			for n := len(ch); n > 0; n-- {
				ev := <-ch
				writeSSE(w, ev.Type, ev.Heads.String(), ev)
			}
			flusher.Flush()
		case <-lagged:
			writeSSE(w, "lagged", "", map[string]any{"message": "too far behind; reconnect and re-read the document"})
			flusher.Flush()
			return
		case <-keep.C:
			io.WriteString(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-a.done:
			return
		}
	}
}

func writeSSE(w io.Writer, typ, id string, v any) {
	b, _ := json.Marshal(v)
	if id != "" {
		fmt.Fprintf(w, "id: %s\n", id)
	}
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
}

// POST /api/docs/{id}/sync
// {"peerId": "...", "messages": ["<base64>"...], "wait": 25, "reset": false}
// → {"messages": ["<base64>"...], "heads": "...", "new": bool, "errors": [...]}
func (a *api) sync(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleRead) {
		return
	}
	var body struct {
		PeerID   string   `json:"peerId"`
		Messages [][]byte `json:"messages"`
		Wait     float64  `json:"wait"`
		Reset    bool     `json:"reset"`
	}
	if !a.decodeBody(w, r, &body) {
		return
	}
	if body.PeerID == "" || len(body.PeerID) > 256 {
		badRequest(w, "peerId (1 to 256 bytes) is required")
		return
	}
	if body.Wait < 0 || body.Wait > maxSyncWait.Seconds() {
		badRequest(w, "wait must be 0 to %d seconds", int(maxSyncWait.Seconds()))
		return
	}
	for i, m := range body.Messages {
		if len(m) == 0 {
			badRequest(w, "messages[%d] is empty", i)
			return
		}
	}
	wait := time.Duration(body.Wait * float64(time.Second))
	ctx, cancel := a.ctx(r, apiCallBudget+wait)
	defer cancel()
	resp, err := a.mgr.SyncHTTP(ctx, session.SyncRequest{
		Doc: id, Peer: body.PeerID, Messages: body.Messages, Wait: wait, Reset: body.Reset,
		Auth: requestAuth(r), Remote: remoteIP(r),
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if resp.Messages == nil {
		resp.Messages = [][]byte{}
	}
	if resp.Errors == nil {
		resp.Errors = []string{}
	}
	setHeads(w, resp.Heads)
	writeJSON(w, http.StatusOK, map[string]any{"messages": resp.Messages, "heads": resp.Heads, "new": resp.New, "errors": resp.Errors})
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
