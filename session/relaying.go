package session

import (
	"time"

	"github.com/weft-dev/weft/crdt"
)

// The cross-node side of a document: its subscription to other nodes'
// ephemeral frames, catching up from the shared store, and merging what
// other nodes stored.

// postRelay posts an event from another goroutine than a local peer's (the
// relay's, the shared log's, a compaction's) to the document's inbox, so
// that its goroutine stays the only owner of its state.
func (d *document) postRelay(ev event) {
	d.posted.Add(1)
	select {
	case d.inbox <- &ev:
	case <-d.done:
		d.posted.Add(-1)
	}
}

// subscribe joins the document's ephemeral traffic; without a relay, or if
// the relay refuses, its peers see only this node's ephemera.
func (d *document) subscribe() {
	r := d.m.cfg.Relay
	if r == nil || d.unsub != nil {
		return
	}
	cancel, err := r.Subscribe(d.id, func(frame []byte) {
		d.postRelay(event{kind: evRelayEphemeral, data: frame})
	})
	if err != nil {
		d.log.Warn("relay subscription failed; ephemeral messages stay on this node", "err", err)
		return
	}
	d.unsub = cancel
}

// doCatchUp merges what the shared store holds of the document, if the
// store is shared, then resyncs the peers whose changes a failed persist
// refused.
func (d *document) doCatchUp(r *round) {
	d.gap = false
	if d.m.shared != nil {
		d.logCatchUp(r)
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
	if d.m.shared != nil && !d.m.shared.Reachable() {
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

// merge applies chunks from outside the local peers' sync (the shared
// log, an upload) and queues the sync messages they produce for the local
// peers. The changes are persisted with the round, unless stored (they
// came from the shared store).
func (d *document) merge(r *round, data []byte, stored bool) {
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
			d.log.Warn("merging changes failed", "err", err)
		}
		return
	}
	d.m.cfg.Metrics.Applied(time.Since(start), res.NChanges)
	if res.Waiting > 0 {
		d.gap = true
	} else {
		d.gapTry = 0
	}
	if stored {
		r.takeStored(res)
	} else {
		r.take(res, nil)
	}
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
