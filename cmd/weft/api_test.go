package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/storage/testwait"
)

// apiCall is one HTTP request against a test server.
type apiResp struct {
	status int
	header http.Header
	body   []byte
}

func (r apiResp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// errCode returns the error code of an API error body.
func (r apiResp) errCode(t testing.TB) string {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok {
		t.Fatalf("no error object in %d response: %s", r.status, r.body)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Fatalf("error without a message: %s", r.body)
	}
	return e["code"].(string)
}

func call(t testing.TB, method, url string, body any, header ...string) apiResp {
	t.Helper()
	return callCtx(t, context.Background(), method, url, body, header...)
}

// callCtx is call with a context for the request (an httptrace, say).
func callCtx(t testing.TB, ctx context.Context, method, url string, body any, header ...string) apiResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return apiResp{status: resp.StatusCode, header: resp.Header, body: b}
}

func wantStatus(t testing.TB, r apiResp, want int, what string) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, want, r.body)
	}
}

// createDoc creates a document through the API and returns its id.
func createDoc(t testing.TB, s *server, content map[string]any, header ...string) string {
	t.Helper()
	r := call(t, "POST", s.url+"/api/docs", map[string]any{"content": content}, header...)
	wantStatus(t, r, http.StatusCreated, "create")
	id := r.json(t)["id"].(string)
	if !crdt.ValidDocumentID(id) || r.header.Get("Location") != "/api/docs/"+id || r.json(t)["url"] != "automerge:"+id {
		t.Fatalf("create returned %s (Location %q)", r.body, r.header.Get("Location"))
	}
	return id
}

func docJSON(t testing.TB, s *server, id, query string) (map[string]any, string) {
	t.Helper()
	r := call(t, "GET", s.url+"/api/docs/"+id+query, nil)
	wantStatus(t, r, http.StatusOK, "get "+id+query)
	return r.json(t), r.header.Get("X-Weft-Heads")
}

func TestAPIDocumentLifecycle(t *testing.T) {
	s := startServer(t, "")
	id := createDoc(t, s, map[string]any{"title": "Notes", "text": "Hello world", "tags": []any{"a"}, "meta": map[string]any{"n": 1.5}})
	doc, h1 := docJSON(t, s, id, "")
	if doc["title"] != "Notes" || doc["text"] != "Hello world" || doc["meta"].(map[string]any)["n"] != 1.5 {
		t.Fatalf("created document reads back as %v", doc)
	}

	// Conditional GET on the ETag.
	r := call(t, "GET", s.url+"/api/docs/"+id, nil, "If-None-Match", `"`+h1+`"`)
	wantStatus(t, r, http.StatusNotModified, "If-None-Match on the current heads")

	// Edits: every op kind, one change.
	r = call(t, "POST", s.url+"/api/docs/"+id+"/changes", map[string]any{"message": "greet", "ops": []any{
		map[string]any{"op": "splice", "path": "/text", "pos": 0, "del": 0, "insert": "Hi! "},
		map[string]any{"op": "set", "path": "/title", "value": "Notes 2"},
		map[string]any{"op": "insert", "path": "/tags/-", "value": "b"},
		map[string]any{"op": "set", "path": "/count", "value": 1, "type": "counter"},
		map[string]any{"op": "increment", "path": "/count", "by": 2},
		map[string]any{"op": "delete", "path": "/meta/n"},
	}})
	wantStatus(t, r, http.StatusOK, "changes")
	h2 := r.header.Get("X-Weft-Heads")
	if r.json(t)["changed"] != true || h2 == h1 || r.json(t)["heads"] != h2 {
		t.Fatalf("changes answered %s (heads header %s)", r.body, h2)
	}
	doc, _ = docJSON(t, s, id, "")
	want := `{"count":3,"meta":{},"tags":["a","b"],"text":"Hi! Hello world","title":"Notes 2"}`
	if b, _ := json.Marshal(doc); string(b) != want {
		t.Fatalf("after edit: %s, want %s", b, want)
	}
	r = call(t, "GET", s.url+"/api/docs/"+id+"/text", nil)
	if r.status != 200 || string(r.body) != "Hi! Hello world" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("text: %d %q %s", r.status, r.body, r.header.Get("Content-Type"))
	}

	// ifHeads: a stale version is refused, the current one accepted.
	stale := map[string]any{"ifHeads": h1, "ops": []any{map[string]any{"op": "set", "path": "/title", "value": "X"}}}
	wantStatus(t, call(t, "POST", s.url+"/api/docs/"+id+"/changes", stale), http.StatusPreconditionFailed, "stale ifHeads")
	wantStatus(t, call(t, "POST", s.url+"/api/docs/"+id+"/changes", map[string]any{"ops": stale["ops"]}, "If-Match", `"`+h1+`"`),
		http.StatusPreconditionFailed, "stale If-Match")
	// baseHeads: applied to the old version, merged with what came since.
	r = call(t, "POST", s.url+"/api/docs/"+id+"/changes", map[string]any{"baseHeads": h1, "ops": []any{
		map[string]any{"op": "splice", "path": "/text", "pos": 11, "del": 0, "insert": "!"}}})
	wantStatus(t, r, http.StatusOK, "baseHeads edit")
	doc, h3 := docJSON(t, s, id, "")
	if doc["text"] != "Hi! Hello world!" || doc["title"] != "Notes 2" {
		t.Fatalf("baseHeads merge gave %v", doc)
	}
	if strings.Count(h3, ",") != 1 {
		t.Fatalf("a concurrent edit should leave two heads, got %q", h3)
	}

	// Time travel: at= returns exactly the old state, immutably cached.
	old, at := docJSON(t, s, id, "?at="+h1)
	if b, _ := json.Marshal(old); string(b) != `{"meta":{"n":1.5},"tags":["a"],"text":"Hello world","title":"Notes"}` || at != h1 {
		t.Fatalf("at=%s: %s (heads %s)", h1, b, at)
	}
	r = call(t, "GET", s.url+"/api/docs/"+id+"/text?at="+h1, nil)
	if string(r.body) != "Hello world" {
		t.Fatalf("text at h1: %q", r.body)
	}

	// History, newest first, paged.
	r = call(t, "GET", s.url+"/api/docs/"+id+"/history?limit=2", nil)
	wantStatus(t, r, http.StatusOK, "history")
	var hist struct {
		Changes []crdt.ChangeMeta
		Total   int
	}
	json.Unmarshal(r.body, &hist)
	if hist.Total != 3 || len(hist.Changes) != 2 || hist.Changes[1].Message != "greet" || hist.Changes[1].Seq != 2 || hist.Changes[1].Time.IsZero() {
		t.Fatalf("history: %s", r.body)
	}
	r = call(t, "GET", s.url+"/api/docs/"+id+"/history?limit=2&skip=2", nil)
	json.Unmarshal(r.body, &hist)
	if len(hist.Changes) != 1 || hist.Changes[0].Hash.String() != h1 || hist.Changes[0].Message != "Created through the API" {
		t.Fatalf("history page 2: %s", r.body)
	}

	// Named versions.
	r = call(t, "POST", s.url+"/api/docs/"+id+"/versions", map[string]any{"name": "first", "heads": h1})
	wantStatus(t, r, http.StatusCreated, "named version")
	wantStatus(t, call(t, "POST", s.url+"/api/docs/"+id+"/versions", map[string]any{"name": "first"}), http.StatusConflict, "duplicate version name")
	wantStatus(t, call(t, "POST", s.url+"/api/docs/"+id+"/versions", map[string]any{"name": "bad", "heads": strings.Repeat("ab", 32)}),
		http.StatusBadRequest, "version at unknown heads")
	r = call(t, "GET", s.url+"/api/docs/"+id+"/versions", nil)
	if vs := r.json(t)["versions"].([]any); len(vs) != 1 || vs[0].(map[string]any)["heads"] != h1 {
		t.Fatalf("versions: %s", r.body)
	}

	// Restore: a new change on top that brings the old content back.
	r = call(t, "POST", s.url+"/api/docs/"+id+"/restore", map[string]any{"heads": h1, "message": "back to first"})
	wantStatus(t, r, http.StatusOK, "restore")
	now, h4 := docJSON(t, s, id, "")
	if b1, b2 := mustJSON(now), mustJSON(old); b1 != b2 {
		t.Fatalf("after restore: %s, want %s", b1, b2)
	}
	r = call(t, "GET", s.url+"/api/docs/"+id+"/history?limit=1", nil)
	json.Unmarshal(r.body, &hist)
	if hist.Total != 4 || hist.Changes[0].Message != "back to first" || hist.Changes[0].Hash.String() != h4 {
		t.Fatalf("history after restore: %s", r.body)
	}
	// The old versions are still there.
	if mid, _ := docJSON(t, s, id, "?at="+h3); mid["text"] != "Hi! Hello world!" {
		t.Fatalf("at=%s after restore: %v", h3, mid)
	}

	// Binary round trip: download, upload as a new document, same heads.
	r = call(t, "GET", s.url+"/api/docs/"+id+"/binary", nil)
	wantStatus(t, r, http.StatusOK, "binary")
	other := crdt.NewDocumentID()
	up := call(t, "PUT", s.url+"/api/docs/"+other+"/binary", r.body)
	wantStatus(t, up, http.StatusCreated, "upload as a new document")
	if up.json(t)["heads"] != h4 {
		t.Fatalf("uploaded copy has heads %v, want %s", up.json(t)["heads"], h4)
	}
	up = call(t, "PUT", s.url+"/api/docs/"+other+"/binary", r.body)
	if up.status != http.StatusOK || up.json(t)["changed"] != false {
		t.Fatalf("uploading the same file again: %d %s", up.status, up.body)
	}

	// List: both documents, sortable and paged.
	r = call(t, "GET", s.url+"/api/docs?limit=1&sort=-updated", nil)
	wantStatus(t, r, http.StatusOK, "list")
	l := r.json(t)
	if docs := l["docs"].([]any); len(docs) != 1 || docs[0].(map[string]any)["id"] != other || l["next"] == "" || l["total"] != 2.0 {
		t.Fatalf("list page 1: %s", r.body)
	}
	r = call(t, "GET", s.url+"/api/docs?limit=1&sort=-updated&cursor="+l["next"].(string), nil)
	if docs := r.json(t)["docs"].([]any); len(docs) != 1 || docs[0].(map[string]any)["id"] != id || r.json(t)["next"] != "" {
		t.Fatalf("list page 2: %s", r.body)
	}

	// Delete: gone for good.
	wantStatus(t, call(t, "DELETE", s.url+"/api/docs/"+other, nil), http.StatusNoContent, "delete")
	wantStatus(t, call(t, "GET", s.url+"/api/docs/"+other, nil), http.StatusNotFound, "get after delete")
	wantStatus(t, call(t, "DELETE", s.url+"/api/docs/"+other, nil), http.StatusNotFound, "delete twice")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAPIBadInput: each bad request gets a clear 4xx and changes nothing.
func TestAPIBadInput(t *testing.T) {
	s := startServer(t, "")
	id := createDoc(t, s, map[string]any{"text": "keep me", "n": 1})
	_, before := docJSON(t, s, id, "")
	d := s.url + "/api/docs/" + id
	huge := `{"ops":[{"op":"set","path":"/x","value":"` + strings.Repeat("x", 2<<20) + `"}]}`
	cases := []struct {
		name, method, url string
		body              any
		status            int
		code              string
	}{
		{"malformed JSON", "POST", d + "/changes", `{"ops": [`, 400, "bad_request"},
		{"unknown field", "POST", d + "/changes", `{"ops": [], "opz": 1}`, 400, "bad_request"},
		{"no ops", "POST", d + "/changes", `{"ops": []}`, 400, "bad_request"},
		{"trailing data", "POST", d + "/changes", `{"ops":[{"op":"set","path":"/a","value":1}]} {}`, 400, "bad_request"},
		{"unknown op", "POST", d + "/changes", `{"ops":[{"op":"explode","path":"/a"}]}`, 400, "bad_edit"},
		{"missing path", "POST", d + "/changes", `{"ops":[{"op":"set","path":"/no/such","value":1}]}`, 400, "bad_edit"},
		{"wrong type", "POST", d + "/changes", `{"ops":[{"op":"splice","path":"/n","pos":0,"insert":"x"}]}`, 400, "bad_edit"},
		{"out of range", "POST", d + "/changes", `{"ops":[{"op":"splice","path":"/text","pos":99,"insert":"x"}]}`, 400, "bad_edit"},
		{"bad pointer", "POST", d + "/changes", `{"ops":[{"op":"set","path":"no-slash","value":1}]}`, 400, "bad_edit"},
		{"all or nothing", "POST", d + "/changes", `{"ops":[{"op":"set","path":"/ok","value":1},{"op":"set","path":"/a/b","value":1}]}`, 400, "bad_edit"},
		{"huge body", "POST", d + "/changes", huge, 413, "too_large"},
		{"invalid heads", "GET", d + "?at=nothex", nil, 400, "bad_heads"},
		{"unknown heads", "GET", d + "?at=" + strings.Repeat("0", 64), nil, 400, "bad_edit"},
		{"invalid ifHeads", "POST", d + "/changes", `{"ifHeads":"zz","ops":[{"op":"set","path":"/a","value":1}]}`, 400, "bad_request"},
		{"garbage binary", "PUT", d + "/binary", []byte("garbage, not automerge"), 400, "bad_automerge_data"},
		{"empty binary", "PUT", d + "/binary", []byte{}, 400, "bad_request"},
		{"create without content", "POST", s.url + "/api/docs", `{}`, 400, "bad_request"},
		{"create with a non-object", "POST", s.url + "/api/docs", `{"content": [1]}`, 400, "bad_request"},
		{"restore without heads", "POST", d + "/restore", `{}`, 400, "bad_request"},
		{"bad limit", "GET", d + "/history?limit=0", nil, 400, "bad_request"},
		{"bad cursor", "GET", s.url + "/api/docs?cursor=!!", nil, 400, "bad_request"},
		{"bad sort", "GET", s.url + "/api/docs?sort=size", nil, 400, "bad_request"},
		{"unknown document", "GET", s.url + "/api/docs/" + crdt.NewDocumentID(), nil, 404, "not_found"},
		{"invalid document id", "GET", s.url + "/api/docs/not-an-id", nil, 404, "not_found"},
		{"unknown endpoint", "GET", s.url + "/api/nope", nil, 404, "not_found"},
		{"unknown sub-resource", "GET", d + "/nope", nil, 404, "not_found"},
		{"wrong method", "PATCH", d, `{}`, 405, "method_not_allowed"},
		{"sync without peer", "POST", d + "/sync", `{"messages":[]}`, 400, "bad_request"},
		{"sync with bad base64", "POST", d + "/sync", `{"peerId":"p","messages":["***"]}`, 400, "bad_request"},
		{"sync with garbage", "POST", d + "/sync", `{"peerId":"p","messages":["AAAA"]}`, 409, "sync_session_ended"},
		{"sync wait too long", "POST", d + "/sync", `{"peerId":"p","wait":3600}`, 400, "bad_request"},
		{"cross-site write", "POST", d + "/changes", `{"ops":[{"op":"set","path":"/a","value":1}]}`, 403, "cross_origin"},
	}
	for _, c := range cases {
		var hdr []string
		if c.code == "cross_origin" {
			hdr = []string{"Origin", "https://evil.example"}
		}
		r := call(t, c.method, c.url, c.body, hdr...)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, truncateString(string(r.body), 300))
			continue
		}
		if code := r.errCode(t); code != c.code {
			t.Errorf("%s: code %q, want %q", c.name, code, c.code)
		}
		if r.header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: Content-Type %q", c.name, r.header.Get("Content-Type"))
		}
	}
	doc, after := docJSON(t, s, id, "")
	if after != before || doc["text"] != "keep me" || len(doc) != 2 {
		t.Fatalf("bad requests changed the document: %v (heads %s → %s)", doc, before, after)
	}
	if code, _ := httpGet(t, s.url+"/healthz"); code != 200 {
		t.Fatalf("server unhealthy after bad input")
	}
}

// TestAPIEditsReachLivePeers: an API edit reaches a connected WebSocket
// peer, and the peer's edit shows in the API, each within a second.
func TestAPIEditsReachLivePeers(t *testing.T) {
	s := startServer(t, "")
	id := createDoc(t, s, map[string]any{"text": "abc"})
	c := dial(t, s, "ws-peer", dialOpts{})
	if err := c.open(id); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "the peer has the document", func() bool { return c.text(id) == "abc" })

	r := call(t, "POST", s.url+"/api/docs/"+id+"/changes", map[string]any{"ops": []any{
		map[string]any{"op": "splice", "path": "/text", "pos": 3, "del": 0, "insert": "def"}}})
	wantStatus(t, r, 200, "edit")
	testwait.Until(t, time.Second, "the API edit at the WebSocket peer", func() bool { return c.text(id) == "abcdef" })

	if err := c.edit(id, 0, 1, "A"); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, time.Second, "the peer's edit in the API", func() bool {
		doc, _ := docJSON(t, s, id, "")
		return doc["text"] == "Abcdef"
	})
	testwait.Until(t, time.Second, "the server and the peer at the same heads", func() bool {
		_, heads := docJSON(t, s, id, "")
		return heads == c.heads(id).String()
	})
}

// sseReader reads Server-Sent Events.
type sseEvent struct {
	typ, id string
	data    map[string]any
}

func readSSE(t testing.TB, url string, header ...string) (<-chan sseEvent, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.typ != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.typ = line[7:]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "data: "):
				json.Unmarshal([]byte(line[6:]), &ev.data)
			}
		}
	}()
	return ch, cancel
}

func nextEvent(t testing.TB, ch <-chan sseEvent, typ string) sseEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event stream ended waiting for %q", typ)
			}
			if ev.typ == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event within 5s", typ)
		}
	}
}

func TestAPIEventsStream(t *testing.T) {
	s := startServer(t, "")
	id := createDoc(t, s, map[string]any{"text": ""})
	ch, stop := readSSE(t, s.url+"/api/docs/"+id+"/events")
	defer stop()
	ready := nextEvent(t, ch, "ready")
	prev := ready.data["heads"].(string)
	for i := range 3 {
		r := call(t, "POST", s.url+"/api/docs/"+id+"/changes", map[string]any{"message": fmt.Sprintf("edit %d", i), "ops": []any{
			map[string]any{"op": "splice", "path": "/text", "pos": i, "del": 0, "insert": "x"}}})
		wantStatus(t, r, 200, "edit")
	}
	for i := range 3 {
		ev := nextEvent(t, ch, "change")
		changes := ev.data["changes"].([]any)
		c := changes[0].(map[string]any)
		if c["message"] != fmt.Sprintf("edit %d", i) || c["deps"] != prev || c["actor"] == "" || c["time"] == nil || ev.id != ev.data["heads"] {
			t.Fatalf("change event %d out of order or incomplete: %+v (previous heads %s)", i, ev, prev)
		}
		prev = ev.data["heads"].(string)
	}
	// Presence: a peer opening the document, then leaving.
	c := dial(t, s, "watcher-peer", dialOpts{})
	if err := c.open(id); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ch, "join"); ev.data["peerId"] != "watcher-peer" {
		t.Fatalf("join event: %+v", ev)
	}
	// The peer's own edit is a change event too.
	testwait.Until(t, 5*time.Second, "peer has the document", func() bool { return c.text(id) == "xxx" })
	if err := c.edit(id, 0, 0, "y"); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, ch, "change"); ev.data["heads"] != c.heads(id).String() {
		t.Fatalf("peer change event: %+v, peer heads %s", ev, c.heads(id))
	}
	c.conn.Close()
	if ev := nextEvent(t, ch, "leave"); ev.data["peerId"] != "watcher-peer" {
		t.Fatalf("leave event: %+v", ev)
	}
}

// httpSyncClient syncs a Replica over POST /api/docs/{id}/sync: the Go
// side of the documented HTTP sync exchange.
type httpSyncClient struct {
	t     testing.TB
	url   string // .../api/docs/{id}/sync
	peer  string
	r     *crdttest.Replica
	hdr   []string
	errs  []string
	reset bool
	wrote func() // if set, called each time a request has been written
}

// exchange sends what the replica has to say, applies the answers, and
// repeats until neither side has anything to say; wait long-polls on the
// last round.
func (c *httpSyncClient) exchange(wait time.Duration) {
	c.t.Helper()
	if !c.rounds(wait, 50) {
		c.t.Fatal("HTTP sync did not settle in 50 rounds")
	}
}

// rounds runs up to n rounds and reports whether sync settled.
func (c *httpSyncClient) rounds(wait time.Duration, n int) bool {
	c.t.Helper()
	for round := 0; round < n; round++ {
		var msgs [][]byte
		if m, ok := c.r.GenerateMessage(); ok {
			msgs = append(msgs, m)
		}
		body := map[string]any{"peerId": c.peer, "messages": msgs, "wait": wait.Seconds(), "reset": c.reset}
		ctx := context.Background()
		if c.wrote != nil {
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { c.wrote() }})
		}
		r := callCtx(c.t, ctx, "POST", c.url, body, c.hdr...)
		wantStatus(c.t, r, 200, "sync")
		var resp struct {
			Messages [][]byte
			New      bool
			Errors   []string
		}
		if err := json.Unmarshal(r.body, &resp); err != nil {
			c.t.Fatal(err)
		}
		c.reset = false
		c.errs = append(c.errs, resp.Errors...)
		if resp.New && round > 0 {
			c.r.ResetSync()
		}
		for _, m := range resp.Messages {
			if err := c.r.ReceiveMessage(m); err != nil {
				c.t.Fatalf("applying the server's message: %v", err)
			}
		}
		if len(msgs) == 0 && len(resp.Messages) == 0 {
			return true
		}
		wait = 0
	}
	return false
}

func TestAPIHTTPSyncConvergesWithWebSocket(t *testing.T) {
	s := startServer(t, "")
	id := createDoc(t, s, map[string]any{"text": "start"})
	ws := dial(t, s, "ws-peer", dialOpts{})
	if err := ws.open(id); err != nil {
		t.Fatal(err)
	}
	hc := &httpSyncClient{t: t, url: s.url + "/api/docs/" + id + "/sync", peer: "http-peer", r: crdttest.NewReplica()}
	hc.exchange(0)
	if txt, _ := hc.r.Text("text"); txt != "start" {
		t.Fatalf("HTTP peer got %q", txt)
	}
	testwait.Until(t, 5*time.Second, "ws peer has the document", func() bool { return ws.text(id) == "start" })

	// The HTTP peer edits; the WebSocket peer sees it.
	if err := hc.r.SpliceText("text", 5, 0, " http"); err != nil {
		t.Fatal(err)
	}
	hc.exchange(0)
	testwait.Until(t, 2*time.Second, "the HTTP edit at the WebSocket peer", func() bool { return ws.text(id) == "start http" })

	// A long poll returns when the WebSocket peer edits. The peer edits once
	// the long poll's request is on the wire (the server gives no outside
	// sign of a parked poll; an edit that arrives before it parks is
	// answered at once, which the assertions below accept as well).
	done := make(chan struct{})
	polling := make(chan struct{})
	hc.wrote = sync.OnceFunc(func() { close(polling) })
	go func() {
		defer close(done)
		<-polling
		ws.edit(id, 0, 0, "ws ")
	}()
	hc.exchange(10 * time.Second)
	hc.wrote = nil
	<-done
	testwait.Until(t, 2*time.Second, "convergence", func() bool {
		hc.exchange(0)
		txt, _ := hc.r.Text("text")
		return txt == "ws start http" && ws.text(id) == txt && hc.r.Heads().Equal(ws.heads(id))
	})
	// A reset starts over and still converges.
	hc.r.ResetSync()
	hc.reset = true
	hc.exchange(0)
	if !hc.r.Heads().Equal(ws.heads(id)) {
		t.Fatalf("after reset: heads %s vs %s", hc.r.Heads(), ws.heads(id))
	}
}

func TestAPIAuthorization(t *testing.T) {
	k := newKeys(t)
	s := startServer(t, "", "--auth", "jwt", "--jwt-secret-file", k.SecretFile)
	admin := "Bearer " + hsToken(t, "root", map[string]string{"*": "admin"})
	id := createDoc(t, s, map[string]any{"text": "secret plans"}, "Authorization", admin)
	writer := "Bearer " + hsToken(t, "wendy", map[string]string{id: "write"})
	reader := "Bearer " + hsToken(t, "rita", map[string]string{id: "read"})
	stranger := "Bearer " + hsToken(t, "sam", map[string]string{"other": "write"})
	edit := map[string]any{"ops": []any{map[string]any{"op": "set", "path": "/x", "value": 1}}}
	d := s.url + "/api/docs/" + id

	wantStatus(t, call(t, "GET", d, nil), 401, "no token")
	wantStatus(t, call(t, "GET", d, nil, "Authorization", "Bearer nope"), 401, "bad token")
	wantStatus(t, call(t, "GET", d, nil, "Authorization", reader), 200, "reader reads")
	wantStatus(t, call(t, "GET", d+"/history", nil, "Authorization", reader), 200, "reader reads history")
	wantStatus(t, call(t, "POST", d+"/changes", edit, "Authorization", reader), 403, "reader edits")
	wantStatus(t, call(t, "POST", d+"/restore", map[string]any{"heads": strings.Repeat("ab", 32)}, "Authorization", reader), 403, "reader restores")
	wantStatus(t, call(t, "PUT", d+"/binary", []byte("x"), "Authorization", reader), 403, "reader uploads")
	wantStatus(t, call(t, "POST", d+"/changes", edit, "Authorization", writer), 200, "writer edits")
	wantStatus(t, call(t, "DELETE", d, nil, "Authorization", writer), 403, "writer deletes")
	wantStatus(t, call(t, "POST", s.url+"/api/docs", map[string]any{"content": map[string]any{"a": 1}}, "Authorization", writer), 403, "writer without * creates")
	// No access looks exactly like no document.
	r := call(t, "GET", d, nil, "Authorization", stranger)
	missing := call(t, "GET", s.url+"/api/docs/"+crdt.NewDocumentID(), nil, "Authorization", stranger)
	if r.status != 404 || string(r.body) != string(missing.body) {
		t.Fatalf("stranger: %d %s; missing document: %s", r.status, r.body, missing.body)
	}
	if l := call(t, "GET", s.url+"/api/docs", nil, "Authorization", stranger).json(t); len(l["docs"].([]any)) != 0 {
		t.Fatalf("stranger lists %v", l)
	}
	me := call(t, "GET", s.url+"/api/me?doc="+id, nil, "Authorization", reader).json(t)
	if me["user"] != "rita" || me["role"] != "read" || me["auth"] != "jwt" {
		t.Fatalf("/api/me: %v", me)
	}

	// A read-only HTTP sync peer receives the document, and its changes
	// are refused: they reach neither the store nor other peers.
	hc := &httpSyncClient{t: t, url: d + "/sync", peer: "rita-http", r: crdttest.NewReplica(), hdr: []string{"Authorization", reader}}
	hc.exchange(0)
	if txt, _ := hc.r.Text("text"); txt != "secret plans" {
		t.Fatalf("reader synced %q", txt)
	}
	hc.r.SpliceText("text", 0, 0, "HACKED ")
	// The reader keeps offering its change and the server keeps refusing
	// it: sync cannot settle, so run a few rounds.
	hc.rounds(0, 5)
	if len(hc.errs) == 0 || !strings.Contains(hc.errs[0], "read-only") {
		t.Fatalf("read-only sync errors: %v", hc.errs)
	}
	doc := call(t, "GET", d, nil, "Authorization", admin).json(t)
	if doc["text"] != "secret plans" {
		t.Fatalf("a reader's change landed: %v", doc)
	}
	// Another user may not take over the reader's sync session.
	body := map[string]any{"peerId": "rita-http"}
	wantStatus(t, call(t, "POST", d+"/sync", body, "Authorization", writer), 403, "hijacking another user's sync peer")
}

func truncateString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
