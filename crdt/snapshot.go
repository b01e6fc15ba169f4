package crdt

import (
	"errors"
	"fmt"

	"github.com/automerge/automerge-go"
)

// ErrDamaged: the document holds a change that automerge-rs 0.5.0 applied
// but cannot write back as a document chunk that loads (it re-encodes the
// change's ops differently, so the rebuilt hashes do not match). The
// change chunks as received still load; a snapshot of them does not.
var ErrDamaged = errors.New("crdt: document cannot be saved as one snapshot")

// snapshot returns the document as one document chunk, checked to load
// back to the same heads: a compaction that stored an unloadable snapshot
// in place of the change chunks would lose the document for everyone, and
// a fresh peer sent one could not open it. The check costs a Load, so the
// heads it last passed at are remembered.
func (d *docState) snapshot() ([]byte, error) {
	hs := d.cur
	if hs == nil {
		hs = heads(d.doc)
	}
	b := d.doc.Save()
	if d.savedOK != nil && d.savedOK.Equal(hs) {
		return b, nil
	}
	back, err := automerge.Load(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	if got := heads(back); !got.Equal(hs) {
		return nil, fmt.Errorf("%w: it loads with heads %s, not %s", ErrDamaged, got, hs)
	}
	d.savedOK = hs
	return b, nil
}
