package crdt

import "github.com/automerge/automerge-go"

// A document's peers, and the live path's view of each of them.
//
// automerge-rs 0.5.0's per-peer sync costs grow with a document's history,
// so a peer confirmed in sync is served directly (the live path): its
// messages are applied without its sync state, and new changes reach it in
// hand-built messages. Two questions decide how a peer is served, and its
// peerMode answers both:
//
//   - Is it live (confirmed in sync, its messages applied directly) or
//     served by Automerge's sync protocol (unknown, behind or ahead)?
//   - Has its sync state seen everything, or did the live path bypass it?
//     A bypassed state restarts from the heads last confirmed shared
//     before Automerge uses it again (syncState).
//
// Every change of mode is one of the event methods below (confirmed,
// fellBack, bypassed, and syncState's restart). The heads we know the
// peer has (theirHeads), the direct sends still unacknowledged (direct)
// and the last hand-built acknowledgement (acked) change with the events
// reported, sentDirect, acknowledging and sentByAutomerge.

// peerMode says how a peer is served; see the table in peerState.
type peerMode uint8

const (
	// modeSyncing: Automerge's sync state serves the peer and has seen
	// every message. Every peer starts here (nothing is known of it).
	modeSyncing peerMode = iota
	// modeSyncingBypassed: Automerge serves the peer, but we sent it
	// changes directly since (fanout to a peer known at the old heads, or
	// a whole document to a fresh peer), so the state restarts from the
	// shared heads when next used.
	modeSyncingBypassed
	// modeLiveTracked: confirmed in sync by a message that went through
	// the sync state, which has therefore seen everything so far.
	modeLiveTracked
	// modeLive: confirmed in sync; its messages are applied directly and
	// its acknowledgements answered from cached heads. Its sync state has
	// missed those and restarts from the shared heads if the peer falls
	// back to the full protocol.
	modeLive
)

func (m peerMode) String() string {
	return [...]string{"syncing", "syncing (state bypassed)", "live (state tracked)", "live"}[m]
}

// live reports whether the peer's messages may take the live path.
func (m peerMode) live() bool { return m == modeLiveTracked || m == modeLive }

// bypassedState reports whether the sync state missed messages and must
// restart from the shared heads before use.
func (m peerMode) bypassedState() bool { return m == modeSyncingBypassed || m == modeLive }

// peerState is what a document keeps per peer. The transitions:
//
//	                 confirmed        fellBack             bypassed             restart (syncState)
//	syncing          live tracked     syncing              syncing bypassed     syncing
//	syncing bypassed live             syncing bypassed     syncing bypassed     syncing
//	live tracked     live tracked     syncing              live                 live tracked
//	live             live             syncing bypassed     live                 live tracked
type peerState struct {
	mode peerMode
	ss   *automerge.SyncState
	// shared are the heads last confirmed on both sides: where a
	// bypassed sync state restarts from.
	shared Heads
	acked  Heads // heads last acknowledged with a hand-built message
	// theirHeads are the heads the peer has, as it last said or as our
	// direct messages since then made them; nil while unknown. A peer
	// known at a document's heads gets its next changes directly.
	theirHeads Heads
	// direct lists heads we sent directly that the peer may still
	// report while it catches up (the live peer's messages in flight).
	direct []Heads
}

// maxDirect bounds the heads remembered per peer; a peer that lags further
// behind than this overflows its send queue and is disconnected anyway.
const maxDirect = 8192

func (d *docState) peer(id string) *peerState {
	p, ok := d.peers[id]
	if !ok {
		p = &peerState{ss: automerge.NewSyncState(d.doc)}
		d.peers[id] = p
	}
	return p
}

// confirmed: the peer said it has our heads, hs. From now on it takes the
// live path, and a sync state that falls behind restarts from hs.
func (p *peerState) confirmed(hs Heads) {
	switch p.mode {
	case modeSyncing:
		p.mode = modeLiveTracked
	case modeSyncingBypassed:
		p.mode = modeLive
	}
	p.shared = hs
}

// fellBack: the peer's message or our answer needs Automerge's sync
// protocol (a need, unknown heads, changes missing dependencies), so its
// next messages go through the sync state until it is confirmed again.
func (p *peerState) fellBack() {
	switch p.mode {
	case modeLiveTracked:
		p.mode = modeSyncing
	case modeLive:
		p.mode = modeSyncingBypassed
	}
}

// bypassed: a message from or to the peer was handled without its sync
// state, which no longer knows what the peer has.
func (p *peerState) bypassed() {
	switch p.mode {
	case modeSyncing:
		p.mode = modeSyncingBypassed
	case modeLiveTracked:
		p.mode = modeLive
	}
}

// syncState returns the peer's Automerge sync state, restarted from the
// heads last confirmed shared if the live path bypassed it (the restart
// transition: the state is current again).
func (d *docState) syncState(p *peerState) *automerge.SyncState {
	if p.mode.bypassedState() {
		ss, err := automerge.LoadSyncState(d.doc, encodeSyncState(p.shared))
		if err != nil {
			ss = automerge.NewSyncState(d.doc)
		}
		p.ss = ss
		if p.mode == modeLive {
			p.mode = modeLiveTracked
		} else {
			p.mode = modeSyncing
		}
	}
	return p.ss
}

// reported: the peer said it has hs (and is not merely catching up on our
// direct sends), which supersedes what those sends made us assume.
func (p *peerState) reported(hs Heads) {
	p.theirHeads = hs
	p.direct = nil
}

// sentDirect: we sent the peer a hand-built message that brings it to hs.
// It will acknowledge hs (or a later head) in order, and its sync state
// has not seen the message.
func (p *peerState) sentDirect(hs Heads) {
	p.theirHeads = hs
	p.pushDirect(hs)
	p.acked = hs
	p.bypassed()
}

// acknowledging reports whether the peer still needs a hand-built
// acknowledgement of hs, and notes that it gets one: repeating one the
// peer already has would cost every live peer a frame for nothing.
func (p *peerState) acknowledging(hs Heads) bool {
	if p.acked.Equal(hs) {
		return false
	}
	p.acked = hs
	return true
}

// sentByAutomerge: the sync state answered the peer, which may lead to any
// heads; the next acknowledgement must be sent even if it repeats one.
func (p *peerState) sentByAutomerge() { p.acked = nil }

// knownAt reports whether the peer is known to have exactly hs.
func (p *peerState) knownAt(hs Heads) bool {
	return p.theirHeads != nil && p.theirHeads.Equal(hs)
}

// ackDirect reports whether h is heads we sent directly, forgetting those
// entries up to it: the peer acknowledges them in order.
func (p *peerState) ackDirect(h Heads) bool {
	for i, d := range p.direct {
		if d.Equal(h) {
			p.dropDirect(i + 1)
			return true
		}
	}
	return false
}

// pushDirect remembers heads sent directly, forgetting the oldest quarter
// when full (a quarter at a time, so that a peer that stopped reading does
// not cost a full move per change).
func (p *peerState) pushDirect(h Heads) {
	if len(p.direct) == maxDirect {
		p.dropDirect(maxDirect / 4)
	}
	p.direct = append(p.direct, h)
}

// dropDirect forgets the n oldest entries, moving the rest to the front so
// that the array is reused: a live peer's FIFO takes an entry per change
// and gives them back an acknowledgement at a time.
func (p *peerState) dropDirect(n int) {
	k := copy(p.direct, p.direct[n:])
	clear(p.direct[k:])
	p.direct = p.direct[:k]
}

// catchingUp reports whether a message without changes or need, naming
// their heads, only acknowledges our direct sends: either heads we sent
// (forgotten up to there), or, for a live peer with sends in flight, heads
// we have. Its acknowledgement may name heads the FIFO never held
// (messages several changes long, or sent before it went live), and
// falling back to Automerge's sync state would cost the whole history on
// every acknowledgement of a busy document.
func (d *docState) catchingUp(p *peerState, their Heads) bool {
	return p.ackDirect(their) || p.mode.live() && len(p.direct) > 0 && d.hasAll(their)
}

// acknowledge returns the hand-built acknowledgement of hs for p, or nil
// when p already has it.
func (d *docState) acknowledge(p *peerState, hs Heads) ([]byte, *built) {
	if !p.acknowledging(hs) {
		return nil, nil
	}
	return d.build(hs, nil)
}

// fanout returns the next sync message for each of peers (but skip) after
// the document went from heads before to after by adding chunks: peers
// known to be at before get the chunks directly, others what Automerge's
// sync state says.
func (d *docState) fanout(before, after Heads, chunks [][]byte, peers []string, skip string) []Outgoing {
	var (
		out    = make([]Outgoing, 0, len(peers))
		direct []byte
		b      *built
	)
	for _, o := range peers {
		if o == skip {
			continue
		}
		q := d.peer(o)
		if !d.noLive && q.knownAt(before) {
			if direct == nil {
				direct, b = d.build(after, chunks)
			}
			out = append(out, Outgoing{Peer: o, Msg: direct, built: b})
			q.sentDirect(after)
			continue
		}
		if m, ok := d.syncState(q).GenerateMessage(); ok {
			out = append(out, Outgoing{Peer: o, Msg: m.Bytes()})
		}
	}
	return out
}
