package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

// call is an API request run on a document's goroutine. fn runs inside a
// batch; done receives its error once the batch's changes are durable.
type call struct {
	fn     func(d *document, r *round) error
	done   chan error
	err    error
	writes bool // fn may add changes: a failed persist fails the call
	// answered: done has its value (owned by the document's goroutine).
	answered bool
}

// run posts fn to doc's goroutine (starting it, and loading the document)
// and waits until the batch it ran in is durable.
func (m *Manager) run(ctx context.Context, doc string, writes bool, fn func(d *document, r *round) error) error {
	if !crdt.ValidDocumentID(doc) {
		return fmt.Errorf("%w: %q is not a document id", ErrNotFound, doc)
	}
	if !writes && m.cfg.Relay == nil && !m.isOpen(doc) {
		// One node: a document it has not stored does not exist, and a
		// read need not start (and keep) a goroutine to learn that.
		if ok, err := m.cfg.Store.Exists(doc); err != nil {
			return err
		} else if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, doc)
		}
	}
	c := &call{fn: fn, done: make(chan error, 1), writes: writes}
	if !m.post(doc, event{kind: evCall, call: c}, true) {
		return ErrShutdown
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// EditRequest is a server-side change to a document.
type EditRequest struct {
	Doc     string
	Ops     []crdt.Op
	Message string
	// IfHeads, when set, refuses the edit with ErrMoved unless the
	// document's heads are exactly these.
	IfHeads crdt.Heads
	// Base, when set, applies Ops to the document as it was at these heads
	// and merges (see crdt.Edit.Base).
	Base crdt.Heads
	// Restore, when set, brings the content back to these heads.
	Restore crdt.Heads
	// Create allows editing a document that does not exist yet (it is
	// created); otherwise such an edit fails with ErrNotFound.
	Create bool
}

// EditResult is what an edit did.
type EditResult struct {
	Heads   crdt.Heads
	Changed bool
}

// Edit commits a server-side change. Peers connected to the document on
// any node receive it live; it is durable when Edit returns.
func (m *Manager) Edit(ctx context.Context, req EditRequest) (EditResult, error) {
	var res EditResult
	err := m.run(ctx, req.Doc, true, func(d *document, r *round) error {
		if len(d.heads) == 0 && !req.Create {
			return fmt.Errorf("%w: %s", ErrNotFound, d.id)
		}
		if req.IfHeads != nil && !req.IfHeads.Equal(d.heads) {
			return fmt.Errorf("%w: heads are %s", ErrMoved, d.heads)
		}
		ctx, cancel := d.m.callCtx()
		out, err := m.cfg.Engine.Edit(ctx, crdt.Edit{
			Doc: d.id, Ops: req.Ops, Message: req.Message, Time: time.Now(),
			Base: req.Base, Restore: req.Restore, Peers: d.peerKeys(),
		})
		cancel()
		if err != nil {
			return d.apiError(r, err)
		}
		r.take(out, nil)
		res = EditResult{Heads: out.Heads, Changed: out.Changed()}
		return nil
	})
	return res, err
}

// apiError classifies an engine failure for an API call. A worker that
// died under the call restarts the document (its peers resync) and the
// call fails with ErrUnavailable.
func (d *document) apiError(r *round, err error) error {
	if dead(err) {
		d.restart(r)
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// View returns the document (or part of it) as JSON, and its current heads.
func (m *Manager) View(ctx context.Context, v crdt.View) ([]byte, crdt.Heads, error) {
	var (
		out   []byte
		heads crdt.Heads
	)
	err := m.run(ctx, v.Doc, false, func(d *document, r *round) error {
		if err := d.exists(); err != nil {
			return err
		}
		heads = d.heads
		ctx, cancel := d.m.callCtx()
		defer cancel()
		var err error
		out, err = m.cfg.Engine.View(ctx, v)
		return d.apiError(r, err)
	})
	return out, heads, err
}

// Heads returns a document's current heads (ErrNotFound when it has none).
func (m *Manager) Heads(ctx context.Context, doc string) (crdt.Heads, error) {
	var heads crdt.Heads
	err := m.run(ctx, doc, false, func(d *document, _ *round) error {
		if err := d.exists(); err != nil {
			return err
		}
		heads = d.heads
		return nil
	})
	return heads, err
}

// History returns a page of a document's changes, newest first.
func (m *Manager) History(ctx context.Context, q crdt.HistoryQuery) ([]crdt.ChangeMeta, int, error) {
	var (
		page  []crdt.ChangeMeta
		total int
	)
	err := m.run(ctx, q.Doc, false, func(d *document, r *round) error {
		if err := d.exists(); err != nil {
			return err
		}
		ctx, cancel := d.m.callCtx()
		defer cancel()
		var err error
		page, total, err = m.cfg.Engine.History(ctx, q)
		return d.apiError(r, err)
	})
	return page, total, err
}

// Binary returns the document as an Automerge file: its stored chunks,
// concatenated (every change the server has acknowledged is among them).
func (m *Manager) Binary(ctx context.Context, doc string) ([]byte, crdt.Heads, error) {
	var (
		data  []byte
		heads crdt.Heads
	)
	err := m.run(ctx, doc, false, func(d *document, _ *round) error {
		if err := d.exists(); err != nil {
			return err
		}
		heads = d.heads
		var err error
		data, err = m.stored(d.id)
		return err
	})
	return data, heads, err
}

// Upload merges an Automerge file (or change chunks) into a document,
// creating it if needed. The bytes are checked and applied by the engine
// (a worker, for a Pool): a file that crashes it fails with
// crdt.ErrCrashed and changes nothing.
func (m *Manager) Upload(ctx context.Context, doc string, data []byte) (EditResult, bool, error) {
	var (
		res     EditResult
		created bool
	)
	err := m.run(ctx, doc, true, func(d *document, r *round) error {
		created = len(d.heads) == 0
		// Probe first, in isolation: a crafted file must not take the
		// document's worker (and its other documents) down.
		cur, err := m.stored(d.id)
		if err != nil {
			return err
		}
		ctx, cancel := d.m.callCtx()
		defer cancel()
		if err := m.cfg.Engine.Probe(ctx, append(cur, data...), crdt.AckMessage(nil)); err != nil {
			return err
		}
		before, start := r.n, r.changes.Len()
		d.merge(r, data, false)
		if err := d.mergeErr; err != nil {
			if dead(err) {
				// merge restarted the document from storage.
				return fmt.Errorf("%w: %w", ErrUnavailable, err)
			}
			return err // the upload's own fault: corrupt, too large
		}
		if r.changes.Len() < start {
			return fmt.Errorf("%w: engine failed while merging", ErrUnavailable)
		}
		res = EditResult{Heads: d.heads, Changed: r.n > before}
		return nil
	})
	return res, created, err
}

// Delete removes a document from this node: its peers here are closed with
// CloseDeleted and its stored data removed.
func (m *Manager) Delete(ctx context.Context, doc string) error {
	return m.run(ctx, doc, true, func(d *document, _ *round) error {
		ok, err := m.cfg.Store.Exists(d.id)
		if err != nil {
			return err
		}
		if !ok && len(d.heads) == 0 {
			return fmt.Errorf("%w: %s", ErrNotFound, d.id)
		}
		d.forget()
		ctx, cancel := d.m.callCtx()
		defer cancel()
		if err := m.cfg.Store.Delete(ctx, d.id); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return nil
	})
}

// PutVersion names a version of a document: heads, or the current heads
// when nil.
func (m *Manager) PutVersion(ctx context.Context, doc string, v storage.Version, heads crdt.Heads) (storage.Version, error) {
	err := m.run(ctx, doc, false, func(d *document, r *round) error {
		if err := d.exists(); err != nil {
			return err
		}
		if heads == nil {
			heads = d.heads
		} else {
			// Unknown heads fail the view with crdt.ErrBadEdit.
			ctx, cancel := d.m.callCtx()
			defer cancel()
			if _, err := m.cfg.Engine.View(ctx, crdt.View{Doc: d.id, At: heads}); err != nil {
				return d.apiError(r, err)
			}
		}
		v.Heads = heads.String()
		if v.Time.IsZero() {
			v.Time = time.Now().UTC()
		}
		ctx, cancel := d.m.callCtx()
		defer cancel()
		err := m.cfg.Store.PutVersion(ctx, d.id, v)
		if errors.Is(err, storage.ErrExists) {
			return fmt.Errorf("%w: %w", ErrExists, err)
		}
		return err
	})
	return v, err
}

// Versions lists a document's named versions, oldest first.
func (m *Manager) Versions(ctx context.Context, doc string) ([]storage.Version, error) {
	var vs []storage.Version
	err := m.run(ctx, doc, false, func(d *document, _ *round) error {
		if err := d.exists(); err != nil {
			return err
		}
		var err error
		vs, err = m.cfg.Store.Versions(d.id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil // not yet stored: changes still in flight
		}
		return err
	})
	return vs, err
}

// List pages through stored documents in id order, after the id after.
func (m *Manager) List(after string, limit int) ([]storage.DocMeta, error) {
	return m.cfg.Store.List(after, limit)
}

func (m *Manager) isOpen(doc string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.docs[doc] != nil
}

// exists fails with ErrNotFound for a document without changes: one that
// was never created, or was deleted.
func (d *document) exists() error {
	if len(d.heads) == 0 {
		return fmt.Errorf("%w: %s", ErrNotFound, d.id)
	}
	return nil
}
