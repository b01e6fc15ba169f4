package crdt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// built describes a hand-built sync message (an acknowledgement, or new
// changes sent directly to a live peer): it carries the document's heads,
// no need, and chunks in causal order. Two such messages to one peer, with
// nothing else to that peer between them, say no more than one message
// with the later heads and both sets of chunks, so ReceiveAll sends that
// one instead. A burst of changes then costs each live peer one frame and
// one acknowledgement, not one per change.
type built struct {
	id     uint64 // identifies the message, shared by every peer it went to
	heads  Heads
	chunks [][]byte
}

// build returns a hand-built message with heads and chunks, and what
// coalescing needs to know of it.
func (d *docState) build(heads Heads, chunks [][]byte) ([]byte, *built) {
	d.builtSeq++
	return buildMessage(heads, heads, chunks), &built{id: d.builtSeq, heads: heads, chunks: chunks}
}

// ReceiveAll implements Engine. It applies the messages in order and then
// coalesces the hand-built messages each peer would get (see built). A
// peer whose message is refused has its later messages in rs refused too:
// the caller disconnects it, and none of its changes may be applied
// unseen.
func (l *Local) ReceiveAll(ctx context.Context, rs []Receive) ([]Result, []error, error) {
	results := make([]Result, len(rs))
	errs := make([]error, len(rs))
	var refused map[string]error
	for i, r := range rs {
		if err := refused[r.Peer]; err != nil {
			errs[i] = fmt.Errorf("%w: an earlier message of this peer was refused", errorKind(err))
			continue
		}
		results[i], errs[i] = l.Receive(ctx, r)
		if errors.Is(errs[i], ErrNotOpen) {
			return nil, nil, errs[i]
		}
		if errs[i] != nil {
			if refused == nil {
				refused = map[string]error{}
			}
			refused[r.Peer] = errs[i]
		}
	}
	coalesce(rs, results)
	return results, errs, nil
}

// errorKind returns the sentinel err matches, so that the later messages'
// errors are handled like the first.
func errorKind(err error) error {
	if k := errKinds[kindOf(err)]; k != nil {
		return k
	}
	return ErrBadMessage
}

// coalesce merges, per peer, each hand-built message into the next one
// when nothing else went to that peer between them. The surviving message
// keeps its place, so the order of what each peer receives is unchanged.
func coalesce(rs []Receive, results []Result) {
	type slot struct {
		msg   *[]byte
		chain []*built // nil: not hand-built
	}
	last := map[string]*slot{}
	var merged []*slot
	visit := func(peer string, msg *[]byte, b *built) {
		if *msg == nil {
			return
		}
		s := &slot{msg: msg}
		if prev := last[peer]; b != nil && prev != nil && prev.chain != nil {
			// prev is emptied here, so its chain can grow in place.
			s.chain = append(prev.chain, b)
			*prev.msg = nil
			merged = append(merged, s)
		} else if b != nil {
			s.chain = []*built{b}
		}
		last[peer] = s
	}
	for i := range results {
		res := &results[i]
		visit(rs[i].Peer, &res.Reply, res.replyBuilt)
		for j := range res.Others {
			o := &res.Others[j]
			visit(o.Peer, &o.Msg, o.built)
		}
	}
	if len(merged) == 0 {
		return
	}
	// Peers that were in step get the same chain: build its message once.
	cache := map[string][]byte{}
	var key []byte
	for _, s := range merged {
		if *s.msg == nil {
			continue // merged into a later one in turn
		}
		key = key[:0]
		for _, b := range s.chain {
			key = binary.AppendUvarint(key, b.id)
		}
		m, ok := cache[string(key)]
		if !ok {
			var chunks [][]byte
			for _, b := range s.chain {
				chunks = append(chunks, b.chunks...)
			}
			heads := s.chain[len(s.chain)-1].heads
			m = buildMessage(heads, heads, chunks)
			cache[string(key)] = m
		}
		*s.msg = m
	}
	for i := range results {
		res := &results[i]
		res.Others = slices.DeleteFunc(res.Others, func(o Outgoing) bool { return o.Msg == nil })
	}
}
