package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

// Loading a document, and the one reaction to a dead worker.
//
// A worker process that dies (automerge-rs aborted on crafted input, or
// the pool restarted it) takes every document it held with it: calls fail
// with crdt.ErrCrashed while it dies and crdt.ErrNotOpen after it came
// back empty. Everything the document acknowledged is in storage, so
// whoever meets such an error calls restart: reload from storage, restart
// every peer's sync state and send each its next message.

// maxRetries bounds the retries of a call that met a dead worker.
const maxRetries = 3

// retryDelay is the wait before retry attempt+1 (attempt from 0) of a call
// that met a dead worker: until the pool has reaped it, calls to it fail
// at once (a write to a closed pipe), and retrying at once would mark an
// innocent document broken.
func retryDelay(attempt int) time.Duration { return deadWorkerBackoff.Delay(attempt) }

var deadWorkerBackoff = crdt.Backoff{Base: 20 * time.Millisecond}

// dead reports whether err means the document's worker died.
func dead(err error) bool {
	return errors.Is(err, crdt.ErrCrashed) || errors.Is(err, crdt.ErrNotOpen)
}

// firstLoad loads the document for its first event (or the first after it
// failed to load), then follows the shared log, if any, from the sequence
// it loaded: what other nodes append meanwhile is delivered after it.
func (d *document) firstLoad() {
	d.snapSize, d.incSize = 0, 0
	d.subscribe()
	if _, err := d.load(); errors.Is(err, storage.ErrDeleted) {
		d.setBroken(err)
		d.log.Info("a deleted document was asked for", "err", err)
	} else if err != nil {
		d.setBroken(err)
		d.log.Error("document cannot be loaded", "err", err)
	} else {
		d.follow()
	}
}

// load reads the document from storage into the engine and returns the
// bytes it loaded.
func (d *document) load() ([]byte, error) {
	start := time.Now()
	chunks, err := d.m.cfg.Store.Load(d.id)
	if errors.Is(err, storage.ErrDeleted) || err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	var data []byte
	d.relog(chunks.SnapSeq) // zero when not found
	d.incCount, d.snapCount = 0, 0
	if err == nil {
		data = make([]byte, 0, chunks.Bytes)
		for _, c := range chunks.Snapshots {
			data = append(data, c...)
			d.snapSize += int64(len(c))
		}
		for _, c := range chunks.Incrementals {
			data = append(data, c...)
			d.incSize += int64(len(c))
		}
		d.lastSeq = chunks.LastSeq
		d.incCount, d.snapCount = len(chunks.Incrementals), len(chunks.Snapshots)
		if meta, err := d.m.cfg.Store.Meta(d.id); err == nil {
			d.changes = meta.Changes
		}
	}
	heads, err := d.open(data)
	salvaged := errors.Is(err, crdt.ErrCorrupt)
	if salvaged {
		data, heads, err = d.salvage(chunks, err)
	}
	if err != nil {
		return nil, err
	}
	d.heads = heads
	d.loaded = true
	d.memAt = time.Time{}
	took := time.Since(start)
	d.m.cfg.Metrics.DocOpened(took)
	if d.incCount > 0 || d.snapCount > 1 {
		// A slow load from several chunks: fold them into one snapshot
		// (at the next quiet second) so the next load is one chunk.
		d.slowLoad = took > slowLoad
		d.dirty = d.dirty || d.slowLoad || d.incCount > maxIncrementals
	}
	if salvaged {
		// Fold what loaded into one snapshot at the next quiet second: the
		// bad chunk leaves the document (a copy stays set aside).
		d.slowLoad, d.dirty = true, true
	}
	d.log.Debug("document loaded", "bytes", len(data), "chunks", len(chunks.Snapshots)+len(chunks.Incrementals), "heads", len(heads), "took", took)
	return data, nil
}

// setBroken records that the document cannot be loaded. Storage that
// does not answer now (a JetStream leader election, NATS away) is tried
// again after a second, not brokenRetry: it is not the document's fault.
func (d *document) setBroken(err error) {
	d.broken, d.brokenAt = err, time.Now()
	if errors.Is(err, storage.ErrUnavailable) {
		d.brokenAt = d.brokenAt.Add(time.Second - brokenRetry)
	}
}

// brokenClose is what a peer of a document that cannot be loaded is told:
// that it was deleted, or to try again later (storage does not answer),
// else otherwise.
func (d *document) brokenClose(otherwise *CloseError) *CloseError {
	switch {
	case errors.Is(d.broken, storage.ErrDeleted):
		return ErrCloseDeleted
	case errors.Is(d.broken, storage.ErrUnavailable):
		return ErrCloseTryAgainLater.With("storage unavailable")
	}
	return otherwise
}

// brokenCallErr is what an API call to a document that cannot be loaded
// gets.
func (d *document) brokenCallErr() error {
	if errors.Is(d.broken, storage.ErrDeleted) {
		return errDeleted(d.id)
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, d.broken)
}

// errDeleted is the error of a call to a document deleted while its
// tombstone lives.
func errDeleted(id string) error { return fmt.Errorf("%w: %s was deleted", ErrNotFound, id) }

// open loads data into the engine, waiting out a worker restart.
func (d *document) open(data []byte) (heads crdt.Heads, err error) {
	err = retrying(func() error {
		ctx, cancel := d.m.callCtx()
		defer cancel()
		heads, err = d.m.cfg.Engine.Open(ctx, d.id, data)
		return err
	})
	return heads, err
}

// retrying calls try until it does not meet a dead worker, at most
// maxRetries+1 times, waiting retryDelay between tries. It is session's
// one retry loop for dead workers.
func retrying(try func() error) error {
	for attempt := 0; ; attempt++ {
		err := try()
		if !dead(err) || attempt == maxRetries {
			return err
		}
		time.Sleep(retryDelay(attempt))
	}
}

// restart is session's one reaction to a dead worker (see dead), called
// by whoever meets one: it persists what the round accepted so far, drops
// the round's queued frames (they reflect the lost engine state), reloads
// the document from storage and restarts every peer's sync state, queuing
// each peer's next message in r so that they all resync. A reload that
// keeps meeting dead workers (another document's message, on a busy pool)
// is retried; if it still fails, the peers are closed with CloseInternal
// so that they reconnect. A failed persist calls it with r nil: the
// document reloads what is durable and the peers' states restart, without
// messages. It returns the bytes the document was loaded from.
func (d *document) restart(r *round) ([]byte, error) {
	if r != nil {
		r.settle()
	}
	var data []byte
	var broken error
	err := retrying(func() error {
		var err error
		data, err = d.reload(r)
		if err != nil && d.broken != nil {
			broken = err // it cannot be loaded: reload closed the peers
			return nil
		}
		return err
	})
	if broken != nil {
		return nil, broken
	}
	if err != nil {
		// The peers' sync states were restarted but they got no fresh
		// message: left as they are they would wait for good. Close them
		// so that they reconnect and resync.
		d.log.Warn("resync after an engine failure failed", "err", err)
		for cl := range d.peers {
			cl.fail(ErrCloseRestarting)
		}
		return nil, err
	}
	return data, nil
}

// reload is one try of restart. It queues messages in r only when it
// succeeds.
func (d *document) reload(r *round) ([]byte, error) {
	if d.loaded {
		d.m.cfg.Metrics.DocClosed() // load counts it open again
	}
	d.loaded = false
	d.snapSize, d.incSize = 0, 0
	data, err := d.load()
	if err != nil {
		d.setBroken(err)
		d.log.Error("document cannot be reloaded", "err", err)
		for cl := range d.peers {
			cl.fail(d.brokenClose(ErrCloseEngineFailed))
		}
		return nil, err
	}
	d.follow() // if the reload went back in the log, from there
	keys := make([]string, 0, len(d.peers))
	for cl := range d.peers {
		ctx, cancel := d.m.callCtx()
		d.m.cfg.Engine.SetPeer(ctx, d.id, cl.key, nil)
		cancel()
		keys = append(keys, cl.key)
	}
	if r == nil {
		return data, nil
	}
	ctx, cancel := d.m.callCtx()
	msgs, err := d.m.cfg.Engine.Generate(ctx, d.id, keys)
	cancel()
	if err != nil {
		return nil, err
	}
	for _, o := range msgs {
		if p := d.byKey[o.Peer]; p != nil {
			r.sync(p.cl, o.Msg)
		}
	}
	return data, nil
}
