package api

import (
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
)

// Log is a document's change log shared by the nodes of a cluster (*jsstore.Store). With
// it, change events come from the log itself, with the log's sequence as their SSE id, so a
// client can resume on any node with Last-Event-ID.
type Log interface {
	// Follow calls f with every entry of doc's log after sequence after, in order, from one
	// goroutine, until stop; stop waits for a running f.
	Follow(doc string, after uint64, f func(storage.Logged)) (stop func(), err error)
	// LastSeq is the sequence of doc's last log entry (0: none).
	LastSeq(doc string) (uint64, error)
}

// lastEventID is the sequence a reconnecting client received last (the Last-Event-ID
// header, or ?lastEventId= for clients that cannot set headers). An id that is not a
// sequence (a heads id of a single-node stream) counts as none: the client starts afresh.
func lastEventID(r *http.Request) (uint64, bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("lastEventId")
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	return seq, err == nil
}

// logEvents serves the event stream from the log: change, reset and deleted events with the
// log's sequence as id; join and leave still come from this node's session events.
func (a *API) logEvents(w http.ResponseWriter, r *http.Request, id string, flusher http.Flusher) {
	presence := make(chan session.Event, sseBuffer)
	lagged := make(chan struct{})
	cancelSub := a.mgr.Subscribe(id, subscriber(presence, lagged, true))
	defer cancelSub()
	// The position before the heads: a change in between is in both ready's heads and an
	// event (harmless), never in neither.
	after, resumed := lastEventID(r)
	if !resumed {
		var err error
		if after, err = a.docLog.LastSeq(id); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	ctx, cancel := a.ctx(r, apiCallBudget)
	heads, err := a.mgr.Heads(ctx, id)
	cancel()
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// f blocks rather than drops: the log is the client's to replay, at its own pace.
	logged, done := make(chan storage.Logged, sseBuffer), make(chan struct{})
	stop, err := a.docLog.Follow(id, after, func(l storage.Logged) {
		select {
		case logged <- l:
		case <-done:
		}
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer stop()
	defer close(done) // before stop: a blocked f returns
	startSSE(w)
	writeSSE(w, "ready", strconv.FormatUint(after, 10), map[string]any{"documentId": id, "heads": heads, "seq": after})
	flusher.Flush()
	st := &logStream{w: w, doc: id, start: after, cursor: after}
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	for {
		select {
		case l := <-logged:
			end := st.write(l)
			for n := len(logged); n > 0 && !end; n-- {
				end = st.write(<-logged)
			}
			flusher.Flush()
			if end {
				return
			}
		case ev := <-presence:
			writeSSE(w, ev.Type, "", ev)
			flusher.Flush()
		case <-lagged:
			writeSSE(w, "lagged", strconv.FormatUint(st.cursor, 10), map[string]any{"message": "too far behind; reconnect"})
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

// logStream turns log entries into events. cursor is the last sequence the client has;
// since holds the chunk sequences sent since the last compaction marker, in order.
type logStream struct {
	w      io.Writer
	doc    string
	start  uint64 // the client had everything up to here when the stream began
	cursor uint64
	since  []uint64
}

// missed reports whether a compaction up to upTo purged chunks the client never got. upTo
// is always a chunk's sequence and purges remove a prefix of the subject, so a client that
// got chunk upTo (in order) got every chunk before it; one that did not, lost some.
func (st *logStream) missed(upTo uint64) bool {
	if upTo <= st.start {
		return false
	}
	_, got := slices.BinarySearch(st.since, upTo)
	return !got
}

// logChange is a change event from the log: no heads (the log does not know them), the
// log's sequence instead.
type logChange struct {
	Type    string            `json:"type"`
	Doc     string            `json:"documentId"`
	Time    time.Time         `json:"time"`
	Seq     uint64            `json:"seq"`
	Changes []crdt.ChangeMeta `json:"changes"`
}

// write sends l's event, if any, and reports whether the stream ends (deleted).
func (st *logStream) write(l storage.Logged) bool {
	id := strconv.FormatUint(l.Seq, 10)
	now := time.Now().UTC()
	switch {
	case l.Deleted:
		writeSSE(st.w, "deleted", id, map[string]any{"type": "deleted", "documentId": st.doc, "time": now, "seq": l.Seq})
		return true
	case l.Compacted != 0:
		missed := st.missed(l.Compacted)
		st.since = st.since[:copy(st.since, st.since[sort.Search(len(st.since), func(i int) bool { return st.since[i] > l.Compacted }):])]
		if missed {
			writeSSE(st.w, "reset", id, map[string]any{"type": "reset", "documentId": st.doc, "time": now, "seq": l.Seq,
				"message": "changes you had not received were compacted away; re-read the document"})
		}
	default:
		metas, err := crdt.ParseChanges(l.Chunk)
		if err != nil || len(metas) == 0 {
			// Unreadable metadata: the client cannot be told what changed, only that it did.
			writeSSE(st.w, "reset", id, map[string]any{"type": "reset", "documentId": st.doc, "time": now, "seq": l.Seq,
				"message": "a change could not be described; re-read the document"})
		} else {
			writeSSE(st.w, "change", id, logChange{Type: session.EventChange, Doc: st.doc, Time: now, Seq: l.Seq, Changes: metas})
		}
		st.since = append(st.since, l.Seq)
	}
	st.cursor = l.Seq
	return false
}
