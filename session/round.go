package session

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

// round is one batch of a document's events while it is handled: the
// change chunks its events added, to persist, and what waits for them to
// be durable (the frames to send, the API calls to answer). process
// creates it, the handlers add to it, and finish persists before it
// sends: nothing that reflects a change leaves before the change is
// durable.
type round struct {
	d       *document
	out     []outMsg
	changes bytes.Buffer
	n       int          // changes in changes
	writers []*Client    // the peers whose changes are in changes
	stored  bytes.Buffer // changes merged from the shared log: durable already
	calls   []*call      // answered once the round's changes are durable
}

// outMsg is a frame waiting for the round's changes to be durable.
type outMsg struct {
	cl    *Client
	typ   string
	frame []byte
}

// take takes in an engine result: the document's new heads, its changes
// (persisted with the round), the reply to from (nil: no sender) and the
// other peers' next messages.
func (r *round) take(res crdt.Result, from *Client) {
	if res.Changed() {
		r.changes.Write(res.Changes)
		r.n += res.NChanges
		if from != nil {
			r.writers = append(r.writers, from)
		}
	}
	r.queue(res, from)
}

// takeStored takes in an engine result whose changes are durable already
// (merged from the shared log): reported with the round, not stored again.
func (r *round) takeStored(res crdt.Result) {
	if res.Changed() {
		r.stored.Write(res.Changes)
	}
	r.queue(res, nil)
}

// queue takes the result's heads and queues its messages: the reply to
// from (nil: no sender) and the other peers' next messages.
func (r *round) queue(res crdt.Result, from *Client) {
	d := r.d
	d.heads = res.Heads
	if res.Reply != nil && from != nil {
		r.sync(from, res.Reply)
	}
	for _, o := range res.Others {
		if p := d.byKey[o.Peer]; p != nil {
			r.sync(p.cl, o.Msg)
		}
	}
}

// sync queues a sync message for cl.
func (r *round) sync(cl *Client, data []byte) {
	r.send(cl, TypeSync, Encode(Message{
		Type: TypeSync, SenderID: r.d.m.peerID, TargetID: cl.peerID, DocumentID: r.d.id, Data: data,
	}))
}

// send queues a frame for cl.
func (r *round) send(cl *Client, typ string, frame []byte) {
	r.out = append(r.out, outMsg{cl: cl, typ: typ, frame: frame})
}

// settle persists what the round accepted so far and drops its queued
// frames, before the document reloads (restart): storage must hold what
// was accepted, and the frames reflect the engine state being lost.
func (r *round) settle() {
	if r.n > 0 {
		if err := r.d.persist(r.changes.Bytes(), r.n); err != nil {
			r.d.log.Error("persisting before reload failed", "err", err)
		} else {
			r.d.changed(r.changes.Bytes()) // event subscribers and webhooks see them too
		}
		r.changes.Reset()
		r.n = 0
	}
	r.out = r.out[:0]
}

// finish persists the round's changes, then sends its frames, then tells
// event subscribers (other nodes follow the shared log). If the persist fails, nothing is
// sent: the document reloads what is durable, and peers resync and send
// their changes again.
func (r *round) finish(first time.Time) {
	d := r.d
	if r.n > 0 {
		if err := d.persist(r.changes.Bytes(), r.n); err != nil {
			r.persistFailed(err)
			return
		}
	}
	for _, o := range r.out {
		o.cl.sendFrame(o.typ, o.frame)
	}
	if r.n > 0 {
		d.changed(r.changes.Bytes())
	}
	if r.stored.Len() > 0 {
		d.changed(r.stored.Bytes())
	}
	if len(r.out) > 0 && !first.IsZero() {
		d.m.cfg.Metrics.Fanout(time.Since(first))
	}
}

// answer answers the round's API calls, once its changes are durable (or
// failed to be); deferred, it fails them on a panic, which it passes on to
// run's guard (that ends the document).
func (r *round) answer() {
	p := recover()
	for _, c := range r.calls {
		if p != nil && c.err == nil {
			c.err = fmt.Errorf("%w: %w", ErrUnavailable, ErrInternal)
		}
		c.answered = true
		c.done <- c.err
	}
	if p != nil {
		panic(p)
	}
}

// persistFailed fails the round's writing calls and drops its frames: the
// document reloads what is durable and its peers' states restart, so that
// they send their changes again. A document deleted through another node
// (its tombstone refused the write) is forgotten instead: it cannot come
// back.
func (r *round) persistFailed(err error) {
	d := r.d
	deleted := errors.Is(err, storage.ErrDeleted)
	for _, c := range r.calls {
		if c.err != nil || !c.writes {
			continue
		}
		if deleted {
			c.err = errDeleted(d.id)
		} else {
			c.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	if deleted {
		d.log.Info("a write to a deleted document was refused")
		d.forget()
		return
	}
	d.log.Error("persisting changes failed; reloading document", "err", err)
	for _, cl := range r.writers {
		d.refused[cl] = true
	}
	d.restart(nil)
	// Once storage is back (a reconnect, or the gap timer's retries), the
	// peers are asked again for what was refused.
	d.unsynced, d.gap = true, true
}

// persist appends change chunks durably (group-committed with every other
// document's writes).
func (d *document) persist(chunk []byte, n int) error {
	start := time.Now()
	ctx, cancel := d.m.callCtx()
	defer cancel()
	seq, err := d.m.cfg.Store.Append(ctx, d.id, chunk, n)
	if err != nil {
		return err
	}
	d.m.cfg.Metrics.Persisted(time.Since(start))
	d.lastSeq = seq
	d.changes += n
	d.incSize += int64(len(chunk))
	d.incCount++
	d.dirty = true
	return nil
}

// process handles one batch of events as one round.
func (d *document) process(batch []event) {
	if d.broken != nil && time.Since(d.brokenAt) > brokenRetry {
		// Try again: the failure may have been transient (a worker that
		// kept dying, a disk error).
		d.broken = nil
	}
	r := &round{d: d}
	defer r.answer()
	if !d.loaded && d.broken == nil {
		d.firstLoad()
	}
	d.follow()
	for i := 0; i < len(batch); i++ {
		i = d.handle(r, batch, i)
	}
	d.catchUp = false
	r.finish(batch[0].at)
}

// handle handles batch[i] (with the sync events right after it, in one
// engine call) and returns the index of the last event it handled.
func (d *document) handle(r *round, batch []event, i int) int {
	ev := batch[i]
	switch ev.kind {
	case evSync:
		if d.broken != nil {
			ev.cl.fail(d.brokenClose(ErrCloseUnloadable.With(d.id)))
			return i
		}
		j := i + 1
		for j < len(batch) && batch[j].kind == evSync {
			j++
		}
		d.syncRun(r, batch[i:j])
		return j - 1
	case evEphemeral:
		d.ephemeral(r, ev)
	case evLeave:
		d.leave(ev.cl)
	case evResync:
		d.resync(r, ev.cl)
	case evRelayEphemeral:
		d.remoteEphemeral(r, ev.data)
	case evCall:
		r.calls = append(r.calls, ev.call)
		if d.broken != nil {
			ev.call.err = d.brokenCallErr()
			return i
		}
		ev.call.err = ev.call.fn(d, r)
	case evCompacted:
		d.compacted(ev.compacted)
	case evLogged:
		j := i + 1
		for j < len(batch) && batch[j].kind == evLogged {
			j++
		}
		d.loggedRun(r, batch[i:j])
		return j - 1
	case evCatchUp:
		if d.loaded && !d.catchUp {
			d.catchUp = true
			d.doCatchUp(r)
		}
	}
	return i
}
