package session

import (
	"errors"
	"time"

	"github.com/weft-dev/weft/crdt"
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
// peers.
func (d *document) compactRound() {
	r := &round{d: d}
	d.maybeCompact(r)
	r.finish(time.Time{})
}

// maybeCompact folds the stored chunks into one snapshot when the
// incremental chunks outweigh it (automerge-repo's rule, PROTOCOL.md §7),
// are many, or the document loaded slowly.
func (d *document) maybeCompact(r *round) {
	if !d.dirty || !d.loaded || d.broken != nil {
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
	ctx, cancel := ctxTimeout()
	defer cancel()
	snap, err := d.m.cfg.Engine.Save(ctx, d.id)
	if errors.Is(err, crdt.ErrDamaged) {
		// The change chunks load; a snapshot of them would not. Keep them.
		d.damage("snapshot", err)
		return
	}
	if dead(err) {
		// Compaction is due again after the reload if it still is.
		d.restart(r)
		return
	}
	if err != nil {
		d.log.Warn("compaction: save failed", "err", err)
		return
	}
	if err := d.m.cfg.Store.Compact(ctx, d.id, snap, d.lastSeq, d.changes); err != nil {
		d.log.Warn("compaction failed", "err", err)
		return
	}
	d.snapSize, d.incSize = int64(len(snap)), 0
	d.incCount, d.snapCount, d.slowLoad = 0, 1, false
	d.log.Debug("compacted", "bytes", len(snap))
}

// close compacts if due, leaves the relay and releases the engine's copy.
func (d *document) close() {
	d.unsubscribe()
	d.compactRound()
	d.release()
}

// unsubscribe leaves the relay.
func (d *document) unsubscribe() {
	if d.unsub != nil {
		d.unsub()
		d.unsub = nil
	}
}

// release releases the engine's copy.
func (d *document) release() {
	if d.loaded {
		ctx, cancel := ctxTimeout()
		d.m.cfg.Engine.Close(ctx, d.id)
		cancel()
		d.m.cfg.Metrics.DocClosed()
	}
	d.loaded = false
}
