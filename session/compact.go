package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

// Loads slower than slowLoad, or from more than maxIncrementals change
// chunks, compact the document even when its snapshot outweighs them:
// loading one snapshot is much faster than replaying many changes.
// (Variables for tests.)
var (
	slowLoad        = 500 * time.Millisecond
	maxIncrementals = 256
)

// compactRound checks for compaction at a quiet second, as a round of its
// own: a dead worker met there restarts the document and resyncs its
// peers. The snapshot's load check runs off the document's goroutine.
func (d *document) compactRound() {
	r := &round{d: d}
	d.maybeCompact(r, true)
	r.finish(time.Time{})
}

// compaction is a snapshot on its way to replacing the stored chunks up to
// upTo, and what the document's counters were when it was taken.
type compaction struct {
	snap     []byte
	upTo     uint64
	known    uint64 // d.known when it was taken
	heads    string // its heads, for the followers of a shared log
	changes  int
	incSize  int64
	incCount int
	err      error // the load check's
}

// maybeCompact folds the stored chunks into one snapshot when the
// incremental chunks outweigh it (automerge-repo's rule, PROTOCOL.md §7),
// are many, or the document loaded slowly. The snapshot is stored only
// once it has loaded back in the engine's probe (a snapshot that does not
// load, stored in place of the chunks, would lose the document): that
// costs a whole load (2.5 s for a 260,000-change document), so with async
// it runs on a goroutine of its own and reports back (evCompacted), one
// compaction at a time.
func (d *document) maybeCompact(r *round, async bool) {
	if !d.dirty || !d.loaded || d.broken != nil || d.compacting || d.gap {
		// With a gap (a merge failed, or merged changes wait for others) the
		// engine lacks entries up to the log position: a snapshot would drop
		// them from the store. The catch-up comes first.
		return
	}
	d.dirty = false
	if d.incSize < d.snapSize && d.snapSize >= 1024 && d.incCount <= maxIncrementals && !d.slowLoad {
		return
	}
	if d.incCount == 0 && d.snapCount <= 1 {
		d.slowLoad = false // already one snapshot: nothing to fold
		return
	}
	ctx, cancel := d.m.callCtx()
	defer cancel()
	snap, err := d.m.cfg.Engine.Save(ctx, d.id)
	if dead(err) {
		// Compaction is due again after the reload if it still is.
		d.restart(r)
		return
	}
	if err != nil {
		d.log.Warn("compaction: save failed", "err", err)
		return
	}
	c := &compaction{snap: snap, upTo: d.compactUpTo(), known: d.known, changes: d.changes, incSize: d.incSize, incCount: d.incCount}
	if len(d.heads) <= maxMarkerHeads {
		c.heads = d.heads.String()
	}
	if !async {
		c.err = d.checkSnapshot(ctx, snap)
		d.compacted(c)
		return
	}
	d.compacting = true
	go func() {
		ctx, cancel := d.m.callCtx()
		defer cancel()
		c.err = d.checkSnapshot(ctx, snap)
		d.postRelay(event{kind: evCompacted, compacted: c})
	}()
}

// checkSnapshot loads snap in the engine's probe.
func (d *document) checkSnapshot(ctx context.Context, snap []byte) error {
	return d.m.cfg.Engine.Probe(ctx, snap, crdt.AckMessage(nil))
}

// compacted stores a checked snapshot in place of the chunks it holds.
func (d *document) compacted(c *compaction) {
	d.compacting = false
	switch {
	case errors.Is(c.err, crdt.ErrCorrupt), errors.Is(c.err, crdt.ErrBadMessage), errors.Is(c.err, crdt.ErrCrashed):
		// The change chunks load; a snapshot of them would not (the probe
		// refused it, or died loading it alone). Keep them.
		d.damage("snapshot", fmt.Errorf("%w: %w", crdt.ErrDamaged, c.err))
		return
	case c.err != nil:
		// No verdict (shutting down, a timeout): try again later.
		d.log.Warn("compaction: checking the snapshot failed", "err", c.err)
		d.dirty = true
		return
	}
	if err := d.store(c); err != nil {
		if errors.Is(err, storage.ErrStale) {
			// Another node's snapshot, which this one may lack: merge it
			// (the gap timer catches up), then compact again.
			d.log.Debug("compaction: a newer snapshot is stored; catching up first", "err", err)
			d.gap, d.dirty = true, true
			return
		}
		d.log.Warn("compaction failed", "err", err)
		return
	}
	d.known = max(d.known, c.upTo)
	// Chunks appended since the snapshot was taken stay incremental.
	d.snapSize, d.incSize = int64(len(c.snap)), max(0, d.incSize-c.incSize)
	d.incCount, d.snapCount, d.slowLoad = max(0, d.incCount-c.incCount), 1, false
	d.dirty = d.dirty || d.incCount > 0
	d.log.Debug("compacted", "bytes", len(c.snap))
}

// store stores the compaction: with a shared log, only if no snapshot the
// engine may lack was stored since it was taken.
func (d *document) store(c *compaction) error {
	ctx, cancel := d.m.callCtx()
	defer cancel()
	if d.m.shared != nil {
		return d.m.shared.CompactShared(ctx, d.id, c.snap, c.upTo, c.changes, c.known, c.heads)
	}
	return d.m.cfg.Store.Compact(ctx, d.id, c.snap, c.upTo, c.changes)
}

// close compacts if due, leaves the relay and releases the engine's copy.
func (d *document) close() {
	d.unsubscribe()
	r := &round{d: d}
	d.maybeCompact(r, false) // the document is going: check the snapshot here
	r.finish(time.Time{})
	d.release()
}

// unsubscribe leaves the relay and stops following the shared log.
func (d *document) unsubscribe() {
	if d.unsub != nil {
		d.unsub()
		d.unsub = nil
	}
	d.stopFollowing()
}

// release releases the engine's copy.
func (d *document) release() {
	if d.loaded {
		ctx, cancel := d.m.callCtx()
		d.m.cfg.Engine.Close(ctx, d.id)
		cancel()
		d.m.cfg.Metrics.DocClosed()
	}
	d.loaded = false
}
