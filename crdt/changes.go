package crdt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

// Changes entering a document, from a peer's sync message (Receive) or
// from another node (Merge): which were present, and which chunks they
// added, so that callers persist exactly those before anything is sent.

// pendingChange is a change chunk received but not yet applied (waiting
// for dependencies inside Automerge), kept so that it can be reported as
// new when it finally applies.
type pendingChange struct {
	bytes []byte
	deps  []Hash
}

const maxPending = 10000

// present notes what was present before cs arrived, for every hash we will
// need to reason about afterwards: cs's changes and dependencies, and the
// pending changes' dependencies. Asking Automerge costs a call and a
// result to free, so the heads answer first: a head is present, and a
// change whose dependencies are all heads is absent unless it is a head
// itself (present, it would have succeeded them). That settles a
// keystroke from a peer in sync without asking.
func (d *docState) present(before Heads, cs []rawChange) map[Hash]bool {
	had := map[Hash]bool{}
	note := func(h Hash) {
		if _, ok := had[h]; !ok {
			had[h] = slices.Contains(before, h) || d.has(h)
		}
	}
	for _, c := range cs {
		if c.opaque {
			continue // its hash is unknown until Automerge has it
		}
		for _, dep := range c.deps {
			note(dep)
		}
		if _, ok := had[c.hash]; !ok && len(c.deps) > 0 && !slices.Contains(before, c.hash) && before.containsAll(c.deps) {
			had[c.hash] = false
		}
		note(c.hash)
	}
	for _, pc := range d.pending {
		for _, dep := range pc.deps {
			note(dep)
		}
	}
	return had
}

// added reports in res the change chunks that cs made part of the document
// (which went from before to res.Heads), and returns them.
func (d *docState) added(res *Result, cs []rawChange, had map[Hash]bool, before Heads) [][]byte {
	if before.Equal(res.Heads) && len(cs) == 0 {
		return nil
	}
	chunks := d.collectNew(cs, had, before, res.Heads)
	d.noteSeqs(chunks)
	res.Changes, res.NChanges = bytes.Join(chunks, nil), len(chunks)
	d.apiState().grew(res.NChanges, len(res.Changes))
	return chunks
}

// collectNew returns the change chunks that the last message made part of
// the document. It works from the message's own chunks plus the pending
// ones, and falls back to asking Automerge for everything since the old
// heads when it cannot prove its answer complete (that call costs time in
// proportion to the history, so it is the exception).
func (d *docState) collectNew(msg []rawChange, had map[Hash]bool, before, after Heads) [][]byte {
	var out [][]byte
	added := map[Hash]bool{}
	var deps [][]Hash
	complete := true
	for _, c := range msg {
		if c.opaque {
			complete = false
			continue
		}
		if had[c.hash] || added[c.hash] {
			continue
		}
		if slices.Contains(after, c.hash) || d.has(c.hash) {
			added[c.hash] = true
			deps = append(deps, c.deps)
			out = append(out, c.bytes)
		} else if len(d.pending) < maxPending {
			d.pending[c.hash] = pendingChange{bytes: bytes.Clone(c.bytes), deps: c.deps}
		}
	}
	for h, pc := range d.pending {
		if d.has(h) {
			delete(d.pending, h)
			if !added[h] {
				added[h] = true
				deps = append(deps, pc.deps)
				out = append(out, pc.bytes)
			}
		}
	}
	if complete && provedComplete(deps, had, added, before, after) {
		return out
	}
	chs, err := d.doc.Changes(toAM(before)...)
	if err != nil {
		return out
	}
	clear(d.pending)
	out = out[:0]
	for _, c := range chs {
		out = append(out, c.Save())
	}
	return out
}

// provedComplete reports whether the added changes account for the whole
// step from before to after: each one's dependencies were present or are
// among them, and every new head is one of them.
func provedComplete(deps [][]Hash, had, added map[Hash]bool, before, after Heads) bool {
	complete := true
	for _, ds := range deps {
		for _, dep := range ds {
			if !had[dep] && !added[dep] {
				complete = false
			}
		}
	}
	wasHead := map[Hash]bool{}
	for _, h := range before {
		wasHead[h] = true
	}
	for _, h := range after {
		if !wasHead[h] && !added[h] {
			complete = false
		}
	}
	return complete
}

// Merge implements Engine.
func (l *Local) Merge(_ context.Context, m Merge) (res Result, err error) {
	defer catch(&err)
	d, err := l.get(m.Doc)
	if err != nil {
		return res, err
	}
	d.cur = nil
	defer func() {
		if err == nil {
			d.cur = res.Heads
		}
	}()
	if len(m.Data) > l.opts.MaxDocument {
		return res, fmt.Errorf("%w: merge of %d bytes", ErrTooLarge, len(m.Data))
	}
	chunks, err := splitChunks(m.Data)
	if err != nil {
		return res, err
	}
	before := heads(d.doc)
	had := d.present(before, chunks)
	if err := d.checkSeqs(chunks, had); err != nil {
		return res, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(m.Data) > 0 {
		if err := d.doc.LoadIncremental(m.Data); err != nil {
			return res, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	res.Heads = heads(d.doc)
	added := d.added(&res, chunks, had, before)
	for _, c := range chunks {
		if !c.opaque && !d.has(c.hash) {
			res.Waiting++
		}
	}
	res.Waiting = max(res.Waiting, len(d.pending))
	if res.Changed() {
		res.Others = d.fanout(before, res.Heads, added, m.Peers, "")
	}
	return res, nil
}
