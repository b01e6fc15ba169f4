package session

// A document's peers: who is subscribed, their engine keys, their leaving,
// and the ephemeral messages they relay to each other.

type docPeer struct {
	cl *Client
}

func (d *document) peer(cl *Client) *docPeer {
	if p, ok := d.peers[cl]; ok {
		return p
	}
	p := &docPeer{cl: cl}
	d.peers[cl] = p
	d.byKey[cl.key] = p
	d.keys = nil
	d.presence(EventJoin, cl)
	if cl.storageID != "" && len(d.heads) > 0 {
		// A returning peer resumes from the heads it shared last time.
		if state, err := d.m.cfg.Store.LoadSyncState(d.id, cl.storageID); err == nil {
			ctx, cancel := d.m.callCtx()
			if err := d.m.cfg.Engine.SetPeer(ctx, d.id, cl.key, state); err != nil {
				d.log.Warn("stored sync state rejected", "peer", cl.peerID, "err", err)
			}
			cancel()
		}
	}
	return p
}

// peerKeys lists every peer's engine key. The list is built once per
// change of the peer set and shared, never modified: every message of a
// burst names the same slice, which the engine's pipe sends once.
func (d *document) peerKeys() []string {
	if d.keys == nil && len(d.peers) > 0 {
		d.keys = make([]string, 0, len(d.peers))
		for c := range d.peers {
			d.keys = append(d.keys, c.key)
		}
	}
	return d.keys
}

// ephemeral relays a peer's ephemeral message to the document's other
// peers, here and on the other nodes.
func (d *document) ephemeral(r *round, ev event) {
	for cl := range d.peers {
		if cl == ev.cl {
			continue
		}
		msg := ev.msg
		msg.TargetID = cl.peerID
		r.send(cl, TypeEphemeral, Encode(msg))
	}
	if rl := d.m.cfg.Relay; rl != nil {
		if err := rl.PublishEphemeral(d.id, Encode(ev.msg)); err != nil {
			d.log.Debug("relaying ephemeral message failed", "err", err)
		}
	}
}

// leave forgets a disconnected peer, keeping its shared heads for next
// time if it has durable storage.
func (d *document) leave(cl *Client) {
	if _, ok := d.peers[cl]; !ok {
		return
	}
	if cl.storageID != "" && d.loaded && len(d.heads) > 0 {
		ctx, cancel := d.m.callCtx()
		state, err := d.m.cfg.Engine.PeerState(ctx, d.id, cl.key)
		if err == nil && len(state) > 0 {
			err = d.m.cfg.Store.SaveSyncState(ctx, d.id, cl.storageID, state)
		}
		cancel()
		if err != nil {
			d.log.Warn("saving sync state failed", "peer", cl.peerID, "err", err)
		}
	}
	d.drop(cl)
}

func (d *document) drop(cl *Client) {
	if d.loaded {
		ctx, cancel := d.m.callCtx()
		d.m.cfg.Engine.DropPeer(ctx, d.id, cl.key)
		cancel()
	}
	if _, ok := d.peers[cl]; ok {
		d.presence(EventLeave, cl)
	}
	delete(d.byKey, cl.key)
	delete(d.peers, cl)
	delete(d.refused, cl)
	d.keys = nil
}
