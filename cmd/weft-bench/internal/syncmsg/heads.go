package syncmsg

import (
	"bytes"
	"slices"

	"github.com/weft-dev/weft/crdt"
)

// HeadSet tracks the heads of a set of changes received in any order: the
// changes no other known change depends on.
type HeadSet struct {
	known    map[crdt.Hash]bool
	depended map[crdt.Hash]bool
	heads    map[crdt.Hash]bool
}

// NewHeadSet starts from changes already held, initial being their heads.
func NewHeadSet(initial []crdt.Hash) *HeadSet {
	s := &HeadSet{known: map[crdt.Hash]bool{}, depended: map[crdt.Hash]bool{}, heads: map[crdt.Hash]bool{}}
	for _, h := range initial {
		s.known[h], s.heads[h] = true, true
	}
	return s
}

// Add records a change; it reports false if it was already known.
func (s *HeadSet) Add(c Change) bool {
	if s.known[c.Hash] {
		return false
	}
	s.known[c.Hash] = true
	for _, d := range c.Deps {
		s.depended[d] = true
		delete(s.heads, d)
	}
	if !s.depended[c.Hash] {
		s.heads[c.Hash] = true
	}
	return true
}

// List returns the heads sorted, as Automerge reports them.
func (s *HeadSet) List() []crdt.Hash {
	hs := make([]crdt.Hash, 0, len(s.heads))
	for h := range s.heads {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b crdt.Hash) int { return bytes.Compare(a[:], b[:]) })
	return hs
}

// Has reports whether the change h was added (or is an initial head).
func (s *HeadSet) Has(h crdt.Hash) bool { return s.known[h] }

// Known returns every change added and every initial head, sorted.
func (s *HeadSet) Known() []crdt.Hash {
	hs := make([]crdt.Hash, 0, len(s.known))
	for h := range s.known {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b crdt.Hash) int { return bytes.Compare(a[:], b[:]) })
	return hs
}
