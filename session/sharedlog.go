package session

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

// SharedLog is what a Store shared by every node of a cluster (JetStream,
// storage/jsstore) adds: each document's chunks form one log that every
// node appends to and follows. With it the cluster needs no catch-up
// protocol of its own: a document opened on any node loads everything
// acknowledged from the store, then follows the log from the loaded
// snapshot's sequence (see relog), merging what other nodes append
// (already stored: never stored again). The Relay, if any, carries only
// ephemeral frames.
type SharedLog interface {
	// Follow calls f with every entry of docID's log after sequence
	// after, in log order, from one goroutine, until stop is called (stop
	// waits for f to return). It survives the store's reconnects without
	// losing or repeating entries.
	Follow(docID string, after uint64, f func(storage.Logged)) (stop func(), err error)
	// Reachable reports whether the store answers now: a document whose
	// persist failed asks it before telling its writers to resend.
	Reachable() bool
	// CompactShared is Store.Compact for one of several writers: known is
	// the highest snapshot coverage (Logged.Compacted, Chunks.SnapSeq) the
	// engine holds, heads the snapshot's (they go to the followers with
	// the compaction marker). It fails with storage.ErrStale when the
	// stored snapshot covers more than known.
	CompactShared(ctx context.Context, docID string, snapshot []byte, upTo uint64, totalChanges int, known uint64, heads string) error
}

// maxMarkerHeads bounds the heads a compaction marker carries; a snapshot
// with more (many concurrent writers) makes its followers load it instead.
const maxMarkerHeads = 16

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
	d.gen++
	gen := d.gen
	quit := make(chan struct{})
	stop, err := log.Follow(d.id, d.logSeq, func(l storage.Logged) {
		ev := &event{kind: evLogged, logged: l, gen: gen}
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
		// The gap timer brings the document back here (process) even if
		// nothing else happens to it meanwhile.
		d.log.Warn("following the document's log failed; retrying", "err", err)
		d.gap = true
		return
	}
	d.unfollow = func() { close(quit); stop() }
}

// relog sets the log position after a load to snapSeq: every entry up to
// it is in the loaded snapshot. The chunks after it that the load
// returned are in the engine too, but the load may lack some in between
// (another node's append whose record update was not done yet), so the
// follow restarts after snapSeq: it delivers them all again, and merging a
// chunk twice changes nothing.
func (d *document) relog(snapSeq uint64) {
	if d.m.shared == nil {
		return
	}
	d.stopFollowing()
	d.followAt = time.Time{}
	d.logSeq, d.known = snapSeq, snapSeq
}

// stopFollowing ends the document's follow of its log.
func (d *document) stopFollowing() {
	if d.unfollow != nil {
		d.unfollow()
		d.unfollow = nil
	}
}

// loggedRun handles consecutive entries of the document's shared log:
// the chunks other nodes appended are merged in one engine call per run
// between markers (a follow restarted after a load delivers many).
func (d *document) loggedRun(r *round, run []event) {
	var chunks [][]byte
	flush := func() {
		if len(chunks) > 0 {
			d.merge(r, bytes.Join(chunks, nil), true)
			chunks = chunks[:0]
		}
	}
	for _, ev := range run {
		l := ev.logged
		if !d.loaded || ev.gen != d.gen || l.Seq <= d.logSeq {
			// Not loaded: the next load reads the store. An older follow's
			// entry: the current one delivers it again, after the last load.
			continue
		}
		if l.Chunk == nil {
			flush()
			d.logged(r, l)
			continue
		}
		d.incCount++
		d.incSize += int64(len(l.Chunk))
		if !l.Own {
			d.changes += l.Changes
			chunks = append(chunks, l.Chunk)
		}
		// Only writers compact (persist marks them dirty): a node that
		// merely follows would repeat the writer's work and lose the race.
		d.logSeq = l.Seq
	}
	flush()
}

// logged handles one marker of the document's shared log.
func (d *document) logged(r *round, l storage.Logged) {
	switch {
	case l.Deleted:
		d.log.Info("document deleted through another node")
		d.forget()
		return
	case l.Compacted != 0:
		// A snapshot covers the stored chunks up to l.Compacted; those
		// this document had not received may have been purged before it
		// did (the sequences, shared with other documents, do not tell):
		// unless the engine holds the snapshot's heads, read them back
		// from the store (snapshot included).
		if d.holds(l) {
			d.known = max(d.known, l.Compacted)
		} else {
			d.logSeq = max(d.logSeq, l.Seq)
			d.logCatchUp(r)
		}
		d.incCount, d.incSize, d.snapCount = 0, 0, 1
	}
	d.logSeq = max(d.logSeq, l.Seq)
}

// holds reports whether the engine holds everything compaction marker l
// covers: its own compaction, one it knew of, or one whose heads it has.
func (d *document) holds(l storage.Logged) bool {
	if l.Own || l.Compacted <= d.known {
		return true
	}
	hs, err := crdt.ParseHeads(l.Heads)
	if err != nil || len(hs) == 0 {
		return false
	}
	ctx, cancel := d.m.callCtx()
	defer cancel()
	ok, err := d.m.cfg.Engine.Contains(ctx, d.id, hs)
	return err == nil && ok
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
	d.merge(r, chunks.Concat(), true)
	// Only the snapshot's coverage is contiguous (see relog); the follow
	// delivers the chunks after it that it has not delivered yet.
	d.logSeq = max(d.logSeq, chunks.SnapSeq)
	d.known = max(d.known, chunks.SnapSeq)
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
	d.snapSize, d.incSize, d.changes, d.lastSeq, d.logSeq, d.known, d.dirty = 0, 0, 0, 0, 0, 0, false
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
