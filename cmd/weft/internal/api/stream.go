package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/weft-dev/weft/cmd/weft/internal/clientip"
	"github.com/weft-dev/weft/cmd/weft/internal/httpjson"
	"github.com/weft-dev/weft/session"
)

// GET /api/docs/{id}/events: Server-Sent Events. A "ready" event with the
// current heads, then "change", "join" and "leave" events as they happen
// on this node (changes from every node, presence of this node's peers).
// A reader that falls sseBuffer events behind gets a "lagged" event and
// the stream ends; it reconnects and re-reads the document. With a shared
// log (a cluster), change events come from the log instead (logEvents).
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	id, ok := docID(w, r)
	if !ok || !authorize(w, r, id, session.RoleRead) {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		httpjson.Error(w, http.StatusInternalServerError, "internal", "streaming unsupported")
		return
	}
	if a.docLog != nil {
		a.logEvents(w, r, id, flusher)
		return
	}
	ch := make(chan session.Event, sseBuffer)
	lagged := make(chan struct{})
	// Subscribe before reading the heads: no change falls in between.
	cancelSub := a.mgr.Subscribe(id, subscriber(ch, lagged, false))
	defer cancelSub()
	ctx, cancel := a.ctx(r, apiCallBudget)
	heads, err := a.mgr.Heads(ctx, id)
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	startSSE(w)
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

// subscriber queues session events for a stream without blocking the
// document goroutine; a full queue closes lagged once. presenceOnly
// skips change events (they come from the log).
func subscriber(ch chan<- session.Event, lagged chan struct{}, presenceOnly bool) func(session.Event) {
	var once sync.Once
	return func(ev session.Event) {
		if presenceOnly && ev.Type == session.EventChange {
			return
		}
		select {
		case ch <- ev:
		default:
			once.Do(func() { close(lagged) })
		}
	}
}

func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
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
func (a *API) sync(w http.ResponseWriter, r *http.Request) {
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
		Auth: requestAuth(r), Remote: clientip.RemoteIP(r),
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
	httpjson.Write(w, http.StatusOK, map[string]any{"messages": resp.Messages, "heads": resp.Heads, "new": resp.New, "errors": resp.Errors})
}
