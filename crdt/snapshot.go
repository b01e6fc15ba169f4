package crdt

import (
	"fmt"

	"github.com/automerge/automerge-go"
)

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
