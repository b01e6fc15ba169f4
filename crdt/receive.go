package crdt

import (
	"bytes"
	"context"
	"fmt"

	"github.com/automerge/automerge-go"
)

// Receive implements Engine. One sync message goes through these steps:
//
//  1. parse and check it (parseReceive), and answer a live peer's plain
//     acknowledgement from cached heads (ack);
//  2. note which of the hashes it names were present (present), and refuse
//     changes whose actor seq is wrong (checkSeqs);
//  3. apply it, on the live path or through the peer's sync state (apply);
//  4. collect the change chunks it added, to be persisted (added);
//  5. decide the reply and the peer's new state (reply);
//  6. fan the new chunks out to the other peers (fanout).
func (l *Local) Receive(_ context.Context, r Receive) (res Result, err error) {
	defer catch(&err)
	d, m, err := l.parseReceive(r)
	if err != nil {
		return res, err
	}
	if res, ok := d.ack(r.Peer, m); ok && !l.opts.NoLive {
		return res, nil
	}
	before := d.cur
	d.cur = nil
	defer func() {
		if err == nil {
			d.cur = res.Heads
		}
	}()
	if before == nil {
		before = heads(d.doc)
	}
	had := d.present(before, m.changes)
	if err := d.checkSeqs(m.changes, had); err != nil {
		return res, err
	}
	p := d.peer(r.Peer)
	applied, err := d.apply(p, r.Msg, m, had, l.opts.NoLive)
	if err != nil {
		return res, err
	}
	res.Heads = heads(d.doc)
	res.TheirHeads = append(Heads(nil), m.heads...)
	sortHeads(res.TheirHeads)
	chunks := d.added(&res, m.changes, had, before)
	if err := d.reply(&res, p, r.Msg, m, applied, l.opts.NoLive); err != nil {
		return res, err
	}
	if res.Changed() {
		res.Others = d.fanout(before, res.Heads, chunks, r.Others, r.Peer)
	}
	return res, nil
}

// parseReceive finds the document and parses the message in Go, before
// automerge-rs sees it.
func (l *Local) parseReceive(r Receive) (*docState, syncMessage, error) {
	d, err := l.get(r.Doc)
	if err != nil {
		return nil, syncMessage{}, err
	}
	if len(r.Msg) > l.opts.MaxMessage {
		return nil, syncMessage{}, fmt.Errorf("%w: sync message of %d bytes", ErrTooLarge, len(r.Msg))
	}
	m, err := parseSyncMessage(r.Msg)
	if err != nil {
		return nil, syncMessage{}, err
	}
	return d, m, nil
}

// ack handles, without touching Automerge, the commonest message of all:
// a live peer acknowledging what we sent it (no changes, no need). It
// marks the peer's sync state bypassed even when it declines (ok false, as
// it always has), so a declined message that then needs Automerge meets a
// state restarted from the shared heads.
func (d *docState) ack(peer string, m syncMessage) (Result, bool) {
	p, ok := d.peers[peer]
	if !ok || !p.mode.live() || d.cur == nil || len(m.changes) > 0 || len(m.need) > 0 {
		return Result{}, false
	}
	their := append(Heads(nil), m.heads...)
	sortHeads(their)
	res := Result{Heads: d.cur, TheirHeads: their}
	p.bypassed()
	switch {
	case p.ackDirect(their):
	case their.Equal(d.cur):
		p.reported(their)
		p.confirmed(their)
		res.Reply, res.replyBuilt = d.acknowledge(p, d.cur)
	default:
		return Result{}, false
	}
	return res, true
}

// apply applies the message: directly for a live peer when it can
// (applyLive), else through the peer's sync state. It reports whether the
// live path took it.
func (d *docState) apply(p *peerState, msg []byte, m syncMessage, had map[Hash]bool, noLive bool) (bool, error) {
	if !noLive && d.applyLive(p, m, had) {
		p.bypassed()
		return true, nil
	}
	p.fellBack()
	if _, err := d.syncState(p).ReceiveMessage(msg); err != nil {
		return false, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return false, nil
}

// applyLive applies a message from a peer on the live path: no need, and
// changes (if any) whose dependencies are all present or in the message.
// It reports false when the message needs Automerge's sync machinery.
func (d *docState) applyLive(p *peerState, m syncMessage, had map[Hash]bool) bool {
	if !p.mode.live() || len(m.need) > 0 {
		return false
	}
	inMsg := make(map[Hash]bool, len(m.changes))
	for _, c := range m.changes {
		if c.opaque {
			return false
		}
		inMsg[c.hash] = true
	}
	var fresh [][]byte
	for _, c := range m.changes {
		for _, dep := range c.deps {
			if !had[dep] && !inMsg[dep] {
				return false
			}
		}
		if !had[c.hash] {
			fresh = append(fresh, c.bytes)
		}
	}
	// Their heads must be known once the changes are in, or they are
	// ahead of us in a way only the sync protocol can resolve.
	for _, h := range m.heads {
		if !had[h] && !inMsg[h] && !d.has(h) {
			return false
		}
	}
	if len(fresh) > 0 {
		if err := d.doc.LoadIncremental(bytes.Join(fresh, nil)); err != nil {
			return false
		}
	}
	return true
}

// reply decides what the peer gets back once its message is in, and moves
// the peer between states (peer.go). Peers known to be in sync get
// acknowledgements in hand-built messages, whose cost does not grow with
// the history; Automerge's own GenerateMessage (which does) runs only for
// peers that are behind, ahead, or unknown.
func (d *docState) reply(res *Result, p *peerState, msg []byte, m syncMessage, applied, noLive bool) error {
	catchingUp := len(m.changes) == 0 && len(m.need) == 0 && d.catchingUp(p, res.TheirHeads)
	if !catchingUp {
		p.reported(res.TheirHeads)
	}
	inSync := res.TheirHeads.Equal(res.Heads)
	if inSync {
		p.confirmed(res.Heads)
	}
	// A fresh peer with a current core gets the whole document as one
	// compact chunk instead of every change of its history (a
	// per-keystroke document is ~200 times smaller this way), unless the
	// document cannot be written as a snapshot that loads (ErrDamaged).
	var whole []byte
	if !catchingUp && !noLive && m.modern && len(m.need) == 0 && len(res.TheirHeads) == 0 && len(res.Heads) > 0 {
		whole, _ = d.snapshot()
	}
	switch {
	case catchingUp:
	case len(m.need) == 0 && inSync:
		res.Reply, res.replyBuilt = d.acknowledge(p, res.Heads)
	case whole != nil:
		// Then treat it like a direct send it will acknowledge.
		res.Reply = buildMessage(res.Heads, res.Heads, [][]byte{whole})
		p.sentDirect(res.Heads)
	default:
		return d.replyFull(res, p, msg, applied)
	}
	return nil
}

// replyFull answers through the full protocol. If the live path applied
// this message, the sync state has not seen it: restart the state from the
// shared heads and let it read the message (its changes are in already).
func (d *docState) replyFull(res *Result, p *peerState, msg []byte, applied bool) error {
	p.fellBack()
	if applied {
		if _, err := d.syncState(p).ReceiveMessage(msg); err != nil {
			return fmt.Errorf("%w: %v", ErrBadMessage, err)
		}
	}
	out, ok := p.ss.GenerateMessage()
	if !ok && !res.TheirHeads.Equal(res.Heads) {
		var err error
		if out, ok, err = d.unstall(p, msg); err != nil {
			return err
		}
	}
	if ok {
		res.Reply = out.Bytes()
		p.sentByAutomerge()
	} else if res.TheirHeads.Equal(res.Heads) {
		res.Reply, res.replyBuilt = d.acknowledge(p, res.Heads)
	}
	return nil
}

// unstall works around automerge-rs 0.5.0's stall (automerge#702, fixed in
// #703): in_flight survives a receive while the peer advertises heads we
// lack, so with heads unchanged it never asks for them (a bloom false
// positive or a change waiting for a dependency starts it) and both sides
// fall silent for good. Do what fixed cores do, which is to forget
// in_flight: restart the state from its shared heads, re-read the message
// (its changes are in already) and answer with what we need. ok is false
// when there is still nothing to say.
func (d *docState) unstall(p *peerState, msg []byte) (out *automerge.SyncMessage, ok bool, err error) {
	ss, err := automerge.LoadSyncState(d.doc, p.ss.Save())
	if err != nil {
		return nil, false, nil
	}
	if _, err := ss.ReceiveMessage(msg); err != nil {
		return nil, false, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	p.ss = ss
	out, ok = ss.GenerateMessage()
	return out, ok, nil
}
