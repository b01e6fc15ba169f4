package session

import (
	"errors"
	"fmt"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

// A document is damaged when Automerge cannot load a stored chunk, or
// cannot write its changes back as one snapshot that loads (crdt.ErrDamaged:
// automerge-rs 0.5.0 applied a change it cannot re-encode). A damaged
// document keeps being served with everything that loads: refusing it
// would let one bad chunk make it unreadable for everyone. A chunk that
// does not load is set aside in storage for inspection, never deleted.

// asideEarlier marks, in Manager.damaged, a document with chunks set aside
// in an earlier run (NewManager reads which); Damage then reads the details.
const asideEarlier = "load: stored chunks set aside in an earlier run"

// Damage describes why a document is damaged; "" when it is not. Chunks
// set aside in an earlier run still count: what they held is not served.
// Only a damaged document costs a storage read here.
func (m *Manager) Damage(doc string) string {
	m.mu.Lock()
	why := m.damaged[doc]
	m.mu.Unlock()
	if why != asideEarlier {
		return why
	}
	if aside, err := m.cfg.Store.SetAsideChunks(doc); err == nil && len(aside) > 0 {
		last := aside[len(aside)-1]
		return fmt.Sprintf("load: %d stored chunks set aside, the last at %s (%s)", len(aside), last.At.Format(time.RFC3339), last.Reason)
	}
	return why
}

// noteEarlierDamage marks the documents with chunks set aside in an
// earlier run as damaged.
func (m *Manager) noteEarlierDamage() error {
	docs, err := m.cfg.Store.SetAsideDocs()
	if err != nil {
		return fmt.Errorf("session: reading set-aside chunks: %w", err)
	}
	for _, id := range docs {
		m.damaged[id] = asideEarlier
	}
	return nil
}

// damage records and reports that the document is damaged.
func (d *document) damage(what string, err error) {
	d.m.mu.Lock()
	first := d.m.damaged[d.id] == ""
	if first {
		d.m.damaged[d.id] = what + ": " + err.Error()
	}
	d.m.mu.Unlock()
	if first {
		d.log.Error("document damaged; serving what loads", "what", what, "err", err)
		d.m.cfg.Metrics.Damaged(what)
	}
}

// salvage opens a document whose stored chunks do not load together: it
// adds them one at a time, in storage order, and sets aside each chunk the
// engine refuses. It costs a load per chunk (compaction keeps them few) and
// runs only for a document that failed to load. It returns what loaded.
func (d *document) salvage(chunks storage.Chunks, openErr error) ([]byte, crdt.Heads, error) {
	all := append(append([][]byte{}, chunks.Snapshots...), chunks.Incrementals...)
	var good []byte
	bad := 0
	for i, c := range all {
		try := append(good[:len(good):len(good)], c...)
		_, err := d.open(try)
		if err == nil {
			good = try
			continue
		}
		if !errors.Is(err, crdt.ErrCorrupt) && !errors.Is(err, crdt.ErrCrashed) {
			return nil, nil, err
		}
		bad++
		reason := fmt.Sprintf("chunk %d of %d does not load: %v", i+1, len(all), err)
		ctx, cancel := d.m.callCtx()
		if err := d.m.cfg.Store.SetAside(ctx, d.id, c, reason); err != nil {
			cancel()
			return nil, nil, fmt.Errorf("setting a damaged chunk aside: %w", err)
		}
		cancel()
	}
	heads, err := d.open(good)
	if err != nil {
		return nil, nil, err
	}
	d.damage("load", fmt.Errorf("%d of %d stored chunks set aside (%w)", bad, len(all), openErr))
	return good, heads, nil
}
