package replay

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/peer"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/syncmsg"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
)

// writer is the one editing peer: a full Replica.
type writer struct {
	rn *run
	p  *peer.Peer

	rmu     sync.Mutex // the replica
	r       *crdttest.Replica
	loaded  int          // prepared changes applied to r (under rmu)
	wmu     sync.Mutex   // writes to the connection
	resyncs int          // server messages that needed the sync machinery (under rmu)
	msgs    int          // sync messages from the server (under rmu)
	acked   atomic.Int64 // changes the server has acknowledged to the writer
	waits   int          // times the replay waited for the window

	// Written by prepare, before the connection's read loop starts; read
	// only afterwards.
	changes []prepared
	index   map[crdt.Hash]int
	sent    atomic.Int64 // changes sent so far
}

// prepared is one keystroke change, made before the clock starts.
type prepared struct {
	msg   []byte // the sync message that carries it
	chunk []byte // the change alone
	hash  crdt.Hash
}

// newWriter joins, creates the document and syncs it until the server
// advertises the writer's heads.
func newWriter(rn *run, url, id, start string) (*writer, error) {
	p, err := peer.Dial(rn.ctx, url, id, &rn.wire, 32<<10)
	if err != nil {
		return nil, err
	}
	rn.add(p)
	w := &writer{rn: rn, p: p, r: crdttest.NewReplica(), index: map[crdt.Hash]int{}}
	if err := w.r.SpliceText("text", 0, 0, start); err != nil {
		return nil, err
	}
	msg, _ := w.r.GenerateMessage()
	if err := p.SendSync(session.TypeSync, rn.doc, msg); err != nil {
		return nil, err
	}
	for {
		m, err := p.Read()
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case session.TypeSync:
			synced, err := w.setupSync(m.Data)
			if err != nil {
				return nil, err
			}
			if synced {
				return w, nil
			}
		case session.TypeError:
			return nil, fmt.Errorf("server error: %s", m.Message)
		}
	}
}

// setupSync answers one sync message of the initial sync and reports
// whether the server now advertises the writer's heads.
func (w *writer) setupSync(data []byte) (bool, error) {
	sm, err := syncmsg.Parse(data)
	if err != nil {
		return false, err
	}
	if err := w.r.ReceiveMessage(data); err != nil {
		return false, err
	}
	if reply, ok := w.r.Reply(); ok {
		if err := w.p.SendSync(session.TypeSync, w.rn.doc, reply); err != nil {
			return false, err
		}
	}
	return crdt.Heads(sm.Heads).Equal(w.r.Heads()), nil
}

// prepare commits every edit, each as one change, on a fork of the
// writer's replica before the clock starts: the trace is fixed, so the
// changes are too, and the tool's own Automerge work (about as costly as
// the server's apply) then does not compete with the server for the CPU
// while it is measured. What is sent, and when, is unchanged.
func (w *writer) prepare(edits []trace.Edit) error {
	f, err := w.r.Fork()
	if err != nil {
		return err
	}
	w.changes = make([]prepared, 0, len(edits))
	for i, e := range edits {
		if err := f.SpliceText("text", e.Pos, e.Del, e.Insert); err != nil {
			return fmt.Errorf("edit %d %+v: %w", i, e, err)
		}
		hs := f.Heads()
		if len(hs) != 1 {
			return fmt.Errorf("edit %d: the writer has %d heads, want 1", i, len(hs))
		}
		w.changes = append(w.changes, prepared{msg: f.ChangeMessage(), chunk: f.LastChange(), hash: hs[0]})
		w.index[hs[0]] = i
	}
	return nil
}

// catchUp applies the changes sent so far to the writer's replica, before
// its sync state answers the server or its text is checked (under rmu).
func (w *writer) catchUp() error {
	n := int(w.sent.Load())
	if n <= w.loaded {
		return nil
	}
	chunks := make([][]byte, 0, n-w.loaded)
	for _, c := range w.changes[w.loaded:n] {
		chunks = append(chunks, c.chunk)
	}
	if err := w.r.ApplyChanges(chunks...); err != nil {
		return err
	}
	w.loaded = n
	return nil
}

// has reports whether the writer holds h (sent it, or had it at setup).
func (w *writer) has(h crdt.Hash) bool {
	if i, ok := w.index[h]; ok {
		return int64(i) < w.sent.Load()
	}
	return w.r.Has(h)
}

// readLoop answers the server while the writer types.
func (w *writer) readLoop() {
	for {
		m, err := w.p.Read()
		if err != nil {
			w.rn.failf("writer connection: %w", err)
			return
		}
		switch m.Type {
		case session.TypeSync:
			if err := w.answer(m.Data); err != nil {
				w.rn.failf("writer: %w", err)
				return
			}
		case session.TypeError:
			w.rn.failf("server error to the writer: %s", m.Message)
			return
		}
	}
}

// answer handles one sync message of the replay. A message that only
// advertises heads the writer has, and needs nothing, is what a server
// sends while the writer's newest changes are in flight: a client that
// knows the server is in sync says nothing. Anything else goes through
// Automerge's sync state (ReceiveMessage, then the reply).
func (w *writer) answer(data []byte) error {
	sm, err := syncmsg.Parse(data)
	if err != nil {
		return err
	}
	w.rmu.Lock()
	w.msgs++
	quiet := len(sm.Need) == 0 && len(sm.Changes) == 0
	for _, h := range sm.Heads {
		quiet = quiet && w.has(h)
	}
	w.noteAck(sm.Heads)
	var reply []byte
	var ok bool
	if !quiet {
		w.resyncs++
		if err = w.catchUp(); err == nil {
			err = w.r.ReceiveMessage(data)
		}
		if err == nil {
			reply, ok = w.r.Reply()
		}
	}
	w.rmu.Unlock()
	if err != nil || !ok {
		return err
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return w.p.SendSync(session.TypeSync, w.rn.doc, reply)
}

// noteAck counts the changes up to the one the server advertises as its
// single head as acknowledged.
func (w *writer) noteAck(heads []crdt.Hash) {
	if len(heads) != 1 {
		return
	}
	if i, ok := w.index[heads[0]]; ok && int64(i+1) > w.acked.Load() {
		w.acked.Store(int64(i + 1))
		w.rn.notify()
	}
}

// delivered is how many changes have reached every reader (with no
// readers: how many the server has acknowledged to the writer).
func (w *writer) delivered() int {
	if len(w.rn.readers) == 0 {
		return int(w.acked.Load())
	}
	n := int64(-1)
	for _, rd := range w.rn.readers {
		if g := rd.progress.Load(); n < 0 || g < n {
			n = g
		}
	}
	return int(n)
}

// replay sends each prepared change with the heads (the keystroke message
// of a client in sync). With rate > 0 change i is due at start + i/rate
// (open loop); that is its intended send time. Otherwise the intended time
// is when it was sent. With window > 0 change i waits until change
// i-window has reached every reader.
func (w *writer) replay(rate float64, window int, start time.Time) (sentAt []time.Time, hashes []crdt.Hash, err error) {
	sentAt = make([]time.Time, 0, len(w.changes))
	hashes = make([]crdt.Hash, 0, len(w.changes))
	for i, c := range w.changes {
		due, err := w.waitDue(i, rate, start)
		if err != nil {
			return sentAt, hashes, err
		}
		if err := w.waitWindow(i, window); err != nil {
			return sentAt, hashes, err
		}
		if rate <= 0 {
			due = time.Now()
		}
		sentAt, hashes = append(sentAt, due), append(hashes, c.hash)
		// Counted as sent before it leaves: the server's answer may come
		// back before Send returns.
		w.sent.Store(int64(i + 1))
		w.wmu.Lock()
		err = w.p.SendSync(session.TypeSync, w.rn.doc, c.msg)
		w.wmu.Unlock()
		if err != nil {
			return sentAt, hashes, fmt.Errorf("writer: %w", err)
		}
	}
	return sentAt, hashes, nil
}

// waitDue waits, open loop (rate > 0), until change i is due and returns
// when that is; flat out it returns at once.
func (w *writer) waitDue(i int, rate float64, start time.Time) (time.Time, error) {
	ctx := w.rn.ctx
	if rate <= 0 {
		return time.Time{}, ctx.Err()
	}
	due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return due, ctx.Err()
		}
	}
	return due, nil
}

// waitWindow waits, with window > 0, until fewer than window changes
// before change i are still on their way to a reader.
func (w *writer) waitWindow(i, window int) error {
	if window <= 0 || i-w.delivered() < window {
		return nil
	}
	w.waits++
	for i-w.delivered() >= window {
		select {
		case <-w.rn.progress:
		case <-time.After(50 * time.Millisecond):
		case <-w.rn.ctx.Done():
			return w.rn.ctx.Err()
		}
	}
	return nil
}
