package session

import (
	"bytes"
	"context"
	"time"

	"github.com/weft-dev/weft/crdt"
)

// The relay side of a document: its subscription to other nodes' traffic,
// publishing its own durable changes, catching up and merging theirs.

// relayHandler posts another node's messages to the document's inbox, so
// that its goroutine stays the only owner of its state.
type relayHandler struct{ d *document }

func (h relayHandler) RelayChanges(b []byte) { h.d.postRelay(event{kind: evRelayChanges, data: b}) }
func (h relayHandler) RelayEphemeral(b []byte) {
	h.d.postRelay(event{kind: evRelayEphemeral, data: b})
}
func (h relayHandler) RelayCatchUp() { h.d.postRelay(event{kind: evCatchUp}) }

func (d *document) postRelay(ev event) {
	d.posted.Add(1)
	select {
	case d.inbox <- &ev:
	case <-d.done:
		d.posted.Add(-1)
	}
}

// subscribe joins the document's relay traffic; without a relay, or if
// the relay refuses, the document is served from this node alone.
func (d *document) subscribe() {
	r := d.m.cfg.Relay
	if r == nil || d.unsub != nil {
		return
	}
	cancel, err := r.Subscribe(d.id, relayHandler{d})
	if err != nil {
		d.log.Warn("relay subscription failed; serving this node's copy only", "err", err)
		return
	}
	d.unsub = cancel
}

// publish sends the changes local peers made, now durable, to the other
// nodes, and pokes them after a reconnect.
func (d *document) publish() {
	r := d.m.cfg.Relay
	if r == nil {
		return
	}
	if d.pub.Len() > 0 {
		ctx, cancel := d.m.callCtx()
		if err := r.PublishChanges(ctx, d.id, bytes.Clone(d.pub.Bytes())); err != nil {
			// The others catch up when the relay is back (Poke).
			d.log.Warn("publishing changes failed", "err", err)
		}
		cancel()
		d.pub.Reset()
	}
	if d.poke {
		d.poke = false
		if err := r.Poke(d.id); err != nil {
			d.log.Warn("poking other nodes failed", "err", err)
		}
	}
}

// doCatchUp merges what the other nodes have of the document (from the
// shared store, or by asking them), then resyncs the peers whose changes a
// failed persist refused.
func (d *document) doCatchUp(r *round) {
	d.gap = false
	if d.m.shared != nil {
		d.logCatchUp(r)
	} else {
		d.relayCatchUp(r)
	}
	d.resyncRefused(r)
}

// resyncRefused sends every peer a fresh message after a failed persist
// restarted their sync states: they answer with the changes it refused
// (clients keep what was not acknowledged), which are persisted again. A
// persist that fails again comes back here, with a growing delay.
func (d *document) resyncRefused(r *round) {
	if !d.unsynced || !d.loaded {
		return
	}
	if s, ok := d.m.cfg.Store.(interface{ Reachable() bool }); ok && !s.Reachable() {
		d.log.Debug("storage not reachable yet; resyncing refused peers later")
		d.gap = true // not yet: try again later
		return
	}
	d.log.Debug("storage is back: resyncing the peers", "refused", len(d.refused))
	d.unsynced = false
	// Peers whose changes were refused reconnect: a fresh sync state
	// sends every change the server lacks (automerge's sent-hashes would
	// keep the old one from sending them twice).
	for cl := range d.refused {
		if _, ok := d.peers[cl]; ok {
			cl.fail(ErrCloseStorageBack)
		}
		delete(d.refused, cl)
	}
	ctx, cancel := d.m.callCtx()
	msgs, err := d.m.cfg.Engine.Generate(ctx, d.id, d.peerKeys())
	cancel()
	if err != nil {
		d.log.Warn("resyncing peers after a failed persist failed", "err", err)
		d.unsynced, d.gap = true, true
		return
	}
	for _, o := range msgs {
		if p := d.byKey[o.Peer]; p != nil {
			r.sync(p.cl, o.Msg)
		}
	}
}

// relayCatchUp asks the other nodes, over the relay, for what they have.
func (d *document) relayCatchUp(r *round) {
	if d.m.cfg.Relay == nil {
		return // one node: what is missing can only come from a peer
	}
	ctx, cancel := context.WithTimeout(d.m.root, catchUpTimeout)
	answers, err := d.m.cfg.Relay.CatchUp(ctx, d.id)
	cancel()
	if err != nil {
		d.log.Warn("catch-up from other nodes failed", "err", err)
	}
	if len(answers) == 0 {
		return
	}
	before := r.n
	d.merge(r, bytes.Join(answers, nil))
	d.log.Debug("caught up from other nodes", "answers", len(answers), "changes", r.n-before)
}

// merge applies chunks from other nodes and queues the sync messages
// they produce for the local peers. The changes are persisted with the
// round, not published again.
func (d *document) merge(r *round, data []byte) {
	start := time.Now()
	ctx, cancel := d.m.callCtx()
	res, err := d.m.cfg.Engine.Merge(ctx, crdt.Merge{Doc: d.id, Data: data, Peers: d.peerKeys()})
	cancel()
	d.mergeErr = err
	if err != nil {
		d.gap = true // what was lost here, a catch-up brings back
		if dead(err) {
			d.restart(r)
		} else {
			d.log.Warn("merging another node's changes failed", "err", err)
		}
		return
	}
	d.m.cfg.Metrics.Applied(time.Since(start), res.NChanges)
	if res.Waiting > 0 {
		d.gap = true
	} else {
		d.gapTry = 0
	}
	r.take(res, nil, false)
}

// remoteEphemeral relays another node's ephemeral frame to local peers.
func (d *document) remoteEphemeral(r *round, frame []byte) {
	msg, err := Decode(frame)
	if err != nil || msg.Type != TypeEphemeral || msg.DocumentID != d.id {
		return
	}
	for cl := range d.peers {
		if cl.peerID == msg.SenderID {
			continue
		}
		m := msg
		m.TargetID = cl.peerID
		r.send(cl, TypeEphemeral, Encode(m))
	}
}
