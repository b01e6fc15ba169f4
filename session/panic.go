package session

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

// A panic on a goroutine that handles client input is a bug in weft, not
// in the input; it must cost the connection or document it happened on,
// never the process. Recovery is the last line of defence: the parsers of
// client bytes are total (crdt.FuzzParse, FuzzSession), this catches what
// they miss.

// recovered logs a recovered panic with its stack, once, and counts it.
func (m *Manager) recovered(log *slog.Logger, where string, r any) {
	log.Error("recovered from a panic", "where", where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	m.cfg.Metrics.Panicked(where)
}

// guard runs one step of the document's goroutine (a batch, a timer) and
// reports whether it returned normally.
func (d *document) guard(fn func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			d.m.recovered(d.log, "document", r)
			ok = false
		}
	}()
	fn()
	return true
}

// crashed ends a document whose goroutine panicked: its state in memory
// is suspect, so nothing of it is kept. It leaves the Manager at once (the
// next message opens a fresh copy that waits for this one to finish and
// then loads from storage, where everything acknowledged is), its peers
// are closed with a reconnect code (they resync), and what was already
// queued for it is refused rather than left waiting.
func (d *document) crashed() {
	d.m.discard(d)
	for cl := range d.peers {
		cl.fail(ErrCloseDocPanic.With(d.id))
	}
	d.guard(d.unsubscribe)
	// Posts that found d before discard took it out are still arriving.
	deadline := time.NewTimer(time.Second)
	defer deadline.Stop()
	for d.posted.Load() > 0 {
		select {
		case ev := <-d.inbox:
			d.posted.Add(-1)
			d.refuse(*ev)
		case <-deadline.C:
			return
		}
	}
	d.guard(d.release)
}

// refuse answers an event that a crashed document took but never
// handled (or that was queued behind the crash).
func (d *document) refuse(ev event) {
	switch {
	case ev.call != nil:
		if !ev.call.answered {
			ev.call.answered = true
			ev.call.done <- fmt.Errorf("%w: %w: document restarting", ErrUnavailable, ErrInternal)
		}
	case ev.cl != nil && (ev.kind == evSync || ev.kind == evResync):
		ev.cl.fail(ErrCloseDocPanic.With(d.id))
	}
}

// crashedIn ends the document after a panic in a batch: the batch's
// events that were not answered are refused with the rest.
func (d *document) crashedIn(batch []event) {
	for _, ev := range batch {
		d.refuse(ev)
	}
	d.crashed()
}

// discard removes d from the open documents whatever was posted to it,
// as unload does for an idle one.
func (m *Manager) discard(d *document) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.docs[d.id] == d {
		delete(m.docs, d.id)
		m.memTotal -= d.acct.mem
		d.acct.mem = 0
		m.gone[d.id] = d
	}
}
