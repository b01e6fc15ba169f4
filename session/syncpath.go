package session

import (
	"errors"
	"time"

	"github.com/weft-dev/weft/crdt"
)

// The sync path: peers' sync and request messages through the engine.

// syncRun applies consecutive sync messages in one engine call. If the
// call as a whole fails (a worker died), each message goes through sync,
// which recovers the document and finds the guilty message.
func (d *document) syncRun(r *round, run []event) {
	live := run[:0:0]
	for _, ev := range run {
		if ev.cl.closed.Load() {
			continue
		}
		d.peer(ev.cl)
		if d.unsynced && crdt.CarriesChanges(ev.msg.Data) {
			// Storage failed and is not known to be back: these changes
			// could not be stored either. Their sender keeps them and is
			// asked again (resyncRefused).
			d.refused[ev.cl] = true
			continue
		}
		live = append(live, ev)
	}
	if len(live) < 2 {
		for _, ev := range live {
			d.sync(r, ev)
		}
		return
	}
	rs := make([]crdt.Receive, len(live))
	for i, ev := range live {
		rs[i] = crdt.Receive{Doc: d.id, Peer: ev.cl.key, Msg: ev.msg.Data, Others: d.othersFor(ev)}
	}
	start := time.Now()
	ctx, cancel := d.m.callCtx()
	results, errs, err := d.m.cfg.Engine.ReceiveAll(ctx, rs)
	cancel()
	if err != nil {
		for _, ev := range live {
			d.sync(r, ev)
		}
		return
	}
	per := time.Since(start) / time.Duration(len(live))
	for i, ev := range live {
		if errs[i] != nil {
			d.reject(ev.cl, errs[i], false)
			continue
		}
		if _, ok := d.peers[ev.cl]; !ok {
			continue // rejected earlier in this run
		}
		d.m.cfg.Metrics.Applied(per, results[i].NChanges)
		d.applied(r, ev, results[i])
	}
}

// sync applies one message. A worker that dies under it (or under
// another document's message) restarts the document; if it crashed, the
// message is replayed alone in the probe worker to learn whether it is
// guilty, and an innocent one is tried again (a few times).
func (d *document) sync(r *round, ev event) {
	cl := ev.cl
	if cl.closed.Load() {
		return
	}
	d.peer(cl)
	start := time.Now()
	var (
		res crdt.Result
		err error
	)
	guilty := false
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := d.m.callCtx()
		res, err = d.m.cfg.Engine.Receive(ctx, crdt.Receive{Doc: d.id, Peer: cl.key, Msg: ev.msg.Data, Others: d.othersFor(ev)})
		cancel()
		if !dead(err) {
			break
		}
		data, rerr := d.restart(r)
		if rerr != nil {
			cl.fail(ErrCloseEngineFailed)
			return
		}
		if errors.Is(err, crdt.ErrCrashed) {
			d.m.cfg.Metrics.EngineCrash()
			// Other messages were in flight on that worker too: try this
			// one alone, in the probe worker, to know if it is guilty.
			ctx, cancel := d.m.callCtx()
			perr := d.m.cfg.Engine.Probe(ctx, data, ev.msg.Data)
			cancel()
			if perr != nil {
				guilty = errors.Is(perr, crdt.ErrCrashed)
				err = perr
				break
			}
		}
	}
	if err != nil {
		d.reject(cl, err, guilty)
		return
	}
	d.m.cfg.Metrics.Applied(time.Since(start), res.NChanges)
	d.applied(r, ev, res)
}

// applied takes in a message's result; a request for a document that
// does not exist is answered doc-unavailable.
func (d *document) applied(r *round, ev event, res crdt.Result) {
	r.take(res, ev.cl)
	if ev.msg.Type == TypeRequest && len(res.Heads) == 0 {
		// Keep the subscription: a later upload reaches this peer.
		cl := ev.cl
		r.send(cl, TypeDocUnavailable, Encode(Message{
			Type: TypeDocUnavailable, SenderID: d.m.peerID, TargetID: cl.peerID, DocumentID: d.id,
		}))
	}
}

// reject disconnects the sender of a message the engine refused.
func (d *document) reject(cl *Client, err error, guilty bool) {
	d.drop(cl)
	switch {
	case guilty:
		banned := d.m.strike(cl.peerID, cl.remote)
		d.log.Warn("sync message crashes the engine; disconnecting sender", "peer", cl.peerID, "remote", cl.remote, "banned", banned)
		cl.fail(ErrCloseCrashingMessage)
	case errors.Is(err, crdt.ErrBadMessage), errors.Is(err, crdt.ErrTooLarge):
		d.log.Info("rejecting sync message", "peer", cl.peerID, "err", err)
		cl.fail(ErrCloseBadSyncMessage.With(err.Error()))
	case dead(err):
		// Innocent, but the engine kept failing under other peers.
		d.log.Warn("engine kept failing; asking peer to reconnect", "peer", cl.peerID)
		cl.fail(ErrCloseRestarting)
	default:
		d.log.Error("sync failed", "peer", cl.peerID, "err", err)
		cl.fail(ErrCloseInternal)
	}
}

// resync restarts cl's sync state (its last message was refused, so the
// two sides disagree about what it has) and queues a fresh sync message
// for it: the peer keeps receiving the document.
func (d *document) resync(r *round, cl *Client) {
	if cl.closed.Load() || !d.loaded || d.broken != nil {
		return
	}
	d.peer(cl)
	ctx, cancel := d.m.callCtx()
	defer cancel()
	err := d.m.cfg.Engine.SetPeer(ctx, d.id, cl.key, nil)
	if err != nil {
		d.log.Warn("resetting a peer's sync state failed", "peer", cl.peerID, "err", err)
	} else {
		var msgs []crdt.Outgoing
		msgs, err = d.m.cfg.Engine.Generate(ctx, d.id, []string{cl.key})
		if err != nil {
			d.log.Warn("generating a resync message failed", "peer", cl.peerID, "err", err)
			msgs = nil
		}
		for _, o := range msgs {
			r.sync(cl, o.Msg)
		}
	}
	if dead(err) {
		d.restart(r) // resyncs every peer, cl too
	}
}

// othersFor lists the peers that may need a message after ev: none when
// ev carries no change (an acknowledgement cannot change the document),
// which keeps a crowd's acknowledgements from costing peers² work. The
// list includes the sender; the engine skips it.
func (d *document) othersFor(ev event) []string {
	if !crdt.CarriesChanges(ev.msg.Data) {
		return nil
	}
	return d.peerKeys()
}
