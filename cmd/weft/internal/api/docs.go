package api

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weft-dev/weft/cmd/weft/internal/httpjson"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
)

// GET /api/me: who the caller is and, with ?doc=, their role on it.
func (a *API) me(w http.ResponseWriter, r *http.Request) {
	out := map[string]any{"user": "", "name": "", "auth": "none"}
	if au := requestAuth(r); au != nil {
		out["user"], out["name"], out["auth"] = au.User, au.Name, "jwt"
	}
	if doc := r.URL.Query().Get("doc"); doc != "" {
		out["role"] = role(r, doc).String()
	}
	httpjson.Write(w, http.StatusOK, out)
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
	// Damaged says why the document is damaged (README "How it works"):
	// it is served with every chunk that loads.
	Damaged string `json:"damaged,omitempty"`
}

// GET /api/docs?limit=&cursor=&sort=id|updated|-updated
func (a *API) list(w http.ResponseWriter, r *http.Request) {
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
		docs = append(docs, docInfo{ID: m.ID, URL: "automerge:" + m.ID, Created: &m.Created, Updated: &m.Updated, Size: m.Size, Changes: m.Changes, Damaged: a.mgr.Damage(m.ID)})
	}
	next := ""
	if offset+len(docs) < len(metas) {
		next = base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(offset + len(docs))))
	}
	httpjson.Write(w, http.StatusOK, map[string]any{"docs": docs, "next": next, "total": len(metas)})
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
func (a *API) create(w http.ResponseWriter, r *http.Request) {
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
		httpjson.Error(w, http.StatusForbidden, "forbidden", `creating documents needs write access to "*"`)
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
	httpjson.Write(w, http.StatusCreated, docInfo{ID: id, URL: "automerge:" + id, Heads: res.Heads})
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// view parameters shared by GET /api/docs/{id} and /text.
func (a *API) view(w http.ResponseWriter, r *http.Request, text bool) {
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
func (a *API) get(w http.ResponseWriter, r *http.Request) { a.view(w, r, false) }

// GET /api/docs/{id}/text?path=/text&at=
func (a *API) text(w http.ResponseWriter, r *http.Request) { a.view(w, r, true) }

// DELETE /api/docs/{id} (admin)
func (a *API) delete(w http.ResponseWriter, r *http.Request) {
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
func (a *API) binary(w http.ResponseWriter, r *http.Request) {
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
func (a *API) upload(w http.ResponseWriter, r *http.Request) {
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
	httpjson.Write(w, status, map[string]any{"id": id, "heads": res.Heads, "changed": res.Changed})
}

// POST /api/docs/{id}/changes
// {"message": "...", "ops": [...], "baseHeads": "h1,h2", "ifHeads": "h1,h2"}
func (a *API) changes(w http.ResponseWriter, r *http.Request) {
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

func (a *API) edit(w http.ResponseWriter, r *http.Request, req session.EditRequest) {
	ctx, cancel := a.ctx(r, apiCallBudget)
	defer cancel()
	res, err := a.mgr.Edit(ctx, req)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	setHeads(w, res.Heads)
	httpjson.Write(w, http.StatusOK, map[string]any{"heads": res.Heads, "changed": res.Changed})
}

// GET /api/docs/{id}/history?limit=&skip=
func (a *API) history(w http.ResponseWriter, r *http.Request) {
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
	httpjson.Write(w, http.StatusOK, map[string]any{"changes": page, "total": total})
}

// POST /api/docs/{id}/restore {"heads": "h1,h2", "message": "..."}
func (a *API) restore(w http.ResponseWriter, r *http.Request) {
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
func (a *API) versions(w http.ResponseWriter, r *http.Request) {
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
	httpjson.Write(w, http.StatusOK, map[string]any{"versions": vs})
}

// POST /api/docs/{id}/versions {"name": "...", "heads": "h1,h2"?, "message": "..."?}
func (a *API) putVersion(w http.ResponseWriter, r *http.Request) {
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
	httpjson.Write(w, http.StatusCreated, v)
}
