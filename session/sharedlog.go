package session

import (
	"errors"
	"time"

	"github.com/weft-dev/weft/storage"
)

// SharedLog is what a Store shared by every node of a cluster (JetStream,
// storage/jsstore) adds: each document's chunks form one log that every
// node appends to and follows. With it the cluster needs no catch-up
// protocol of its own: a document opened on any node loads everything
// acknowledged from the store, then follows the log from the sequence it
// loaded, merging what other nodes append (already stored: never stored
// again). The Relay, if any, then carries only ephemeral frames.
type SharedLog interface {
	// Follow calls f with every entry of docID's log after sequence
	// after, in log order, from one goroutine, until stop is called (stop
	// waits for f to return). It survives the store's reconnects without
	// losing or repeating entries.
	Follow(docID string, after uint64, f func(storage.Logged)) (stop func(), err error)
}

// followRetry is how long a document waits before it tries again to
// follow its log after Follow failed (storage unreachable).
const followRetry = time.Second

// follow starts following the document's log from d.logSeq, if the store
// is shared and the document does not follow it yet. The callback posts
// to the inbox, or gives up once the document or this follow is done:
// stop is called from the document's goroutine, which then does not read
// the inbox, so the callback must not wait for it.
func (d *document) follow() {
	log := d.m.shared
	if log == nil || d.unfollow != nil || !d.loaded || time.Since(d.followAt) < followRetry {
		return
	}
	d.followAt = time.Now()
	quit := make(chan struct{})
	stop, err := log.Follow(d.id, d.logSeq, func(l storage.Logged) {
		ev := &event{kind: evLogged, logged: l}
		d.posted.Add(1)
		select {
		case d.inbox <- ev:
		case <-d.done:
			d.posted.Add(-1)
		case <-quit:
			d.posted.Add(-1)
		}
	})
	if err != nil {
		d.log.Warn("following the document's log failed; retrying", "err", err)
		return
	}
	d.unfollow = func() { close(quit); stop() }
}

// relog sets the log position after a load: the engine holds what the
// store returned, up to seq, and nothing else. A reload can go back (the
// store's cached copy while NATS is down lacks what was merged since):
// the follow then restarts from there, so nothing it delivered is lost.
func (d *document) relog(seq uint64) {
	if d.m.shared != nil && seq < d.logSeq {
		d.stopFollowing()
		d.followAt = time.Time{}
	}
	d.logSeq = seq
}

// stopFollowing ends the document's follow of its log.
func (d *document) stopFollowing() {
	if d.unfollow != nil {
		d.unfollow()
		d.unfollow = nil
	}
}

// logged handles one entry of the document's shared log.
func (d *document) logged(r *round, l storage.Logged) {
	if !d.loaded || l.Seq <= d.logSeq {
		return // the next load reads the store; or it is loaded already
	}
	switch {
	case l.Deleted:
		d.log.Info("document deleted through another node")
		d.forget()
		return
	case l.Compacted != 0:
		// A snapshot covers the stored chunks up to l.Compacted; those
		// this document had not received may have been purged before it
		// did: read them back from the store (snapshot included).
		if d.logSeq < l.Compacted {
			d.logSeq = l.Seq
			d.logCatchUp(r)
		}
		d.incCount, d.incSize, d.snapCount = 0, 0, 1
	case l.Chunk != nil:
		d.incCount++
		d.incSize += int64(len(l.Chunk))
		if !l.Own {
			d.changes += l.Changes
			d.mergeStored(r, l.Chunk)
		}
		d.dirty = true
	}
	d.logSeq = max(d.logSeq, l.Seq)
}

// logCatchUp merges everything the store holds of the document (after a
// gap, or after chunks it missed were compacted away): the shared log's
// catch-up, one read and no request to other nodes.
func (d *document) logCatchUp(r *round) {
	chunks, err := d.m.cfg.Store.Load(d.id)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			d.log.Warn("catching up from the store failed", "err", err)
			d.gap = true
		}
		return
	}
	d.mergeStored(r, chunks.Concat())
	d.logSeq = max(d.logSeq, chunks.LastSeq)
}

// mergeStored merges chunks that are already in the shared store: like
// merge, but they are not stored again (only reported to event
// subscribers with the round's changes).
func (d *document) mergeStored(r *round, data []byte) {
	n := r.changes.Len()
	nc := r.n
	d.merge(r, data)
	if r.changes.Len() > n {
		r.stored.Write(r.changes.Bytes()[n:])
		r.changes.Truncate(n)
		r.n = nc
	}
}

// forget drops the document after it was deleted (here or through another
// node): its peers are closed with CloseDeleted, the engine's copy is
// released, and until the goroutine unloads it, it answers like a
// document that never existed.
func (d *document) forget() {
	d.stopFollowing() // nothing more can come: the next load says it was deleted
	for cl := range d.peers {
		cl.fail(ErrCloseDeleted)
		d.drop(cl)
	}
	if d.loaded {
		ctx, cancel := d.m.callCtx()
		d.m.cfg.Engine.Close(ctx, d.id)
		cancel()
		d.loaded = false
	}
	d.heads = nil
	d.snapSize, d.incSize, d.changes, d.lastSeq, d.logSeq, d.dirty = 0, 0, 0, 0, 0, false
}

// compactUpTo is the sequence a snapshot taken now covers: with a shared
// log, only the entries this document has received in log order (another
// node's chunk appended before one of ours may not have arrived yet).
func (d *document) compactUpTo() uint64 {
	if d.m.shared != nil {
		return d.logSeq
	}
	return d.lastSeq
}
