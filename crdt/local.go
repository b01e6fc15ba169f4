package crdt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/automerge/automerge-go"
)

// LocalOptions configures an in-process engine.
type LocalOptions struct {
	// MaxMessage caps a sync message; zero means 64 MiB.
	MaxMessage int
	// MaxDocument caps the bytes a document is loaded from; zero means 256 MiB.
	MaxDocument int
	// NoLive turns the live path off: every message goes through
	// Automerge's own sync states (for equivalence tests).
	NoLive bool
}

// Local runs documents in this process. It is fast and right for trusted
// input (tests, tools); a crafted message can abort the process, so servers
// use a Pool, whose workers each run a Local.
type Local struct {
	opts LocalOptions

	mu   sync.Mutex // guards docs; each docState is used by its owner only
	docs map[string]*docState
}

type docState struct {
	doc   *automerge.Doc
	peers map[string]*peerState
	// pending holds change chunks received but not yet applied (waiting
	// for dependencies inside Automerge), so they can be reported as new
	// when they finally apply.
	pending map[Hash][]byte
	// cur caches the heads while nothing changes them; nil while a call
	// that may change the document runs (or failed half-way).
	cur Heads
	// noLive mirrors LocalOptions.NoLive.
	noLive bool
	// api holds the server-side API's state (history.go).
	api *apiState
	// builtSeq numbers hand-built messages (coalesce.go).
	builtSeq uint64
	// actors holds each actor's highest seq (seqcheck.go); nil until needed.
	actors actorSeqs
	// savedOK: the heads at which a snapshot last loaded back (snapshot.go).
	savedOK Heads
}

type peerState struct {
	ss    *automerge.SyncState
	acked Heads // heads last acknowledged with a hand-built message
	// theirHeads are the heads the peer has, as it last said or as our
	// direct messages since then made them; nil while unknown.
	theirHeads Heads
	// direct lists heads we sent directly that the peer may still
	// report while it catches up.
	direct []Heads
	// live: the peer was confirmed in sync, and its messages are applied
	// without Automerge's sync state (whose receive cost grows with the
	// history); shared are the heads last confirmed on both sides.
	live   bool
	shared Heads
	// stale: ss missed messages the live path handled; syncState
	// restarts it from shared before Automerge uses it again.
	stale bool
}

// maxDirect bounds the heads remembered per peer; a peer that lags further
// behind than this overflows its send queue and is disconnected anyway.
const maxDirect = 8192

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

const maxPending = 10000

// NewLocal returns an in-process engine.
func NewLocal(opts *LocalOptions) *Local {
	l := &Local{docs: map[string]*docState{}}
	if opts != nil {
		l.opts = *opts
	}
	if l.opts.MaxMessage == 0 {
		l.opts.MaxMessage = 64 << 20
	}
	if l.opts.MaxDocument == 0 {
		l.opts.MaxDocument = 256 << 20
	}
	return l
}

// catch turns a Go panic from automerge-go (it panics on unexpected C
// results) into an error. Rust aborts cannot be caught: that is what the
// worker processes are for.
func catch(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: automerge panicked: %v", ErrBadMessage, r)
	}
}

func (l *Local) get(id string) (*docState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.docs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotOpen, id)
	}
	return d, nil
}

func (d *docState) peer(id string) *peerState {
	p, ok := d.peers[id]
	if !ok {
		p = &peerState{ss: automerge.NewSyncState(d.doc)}
		d.peers[id] = p
	}
	return p
}

func heads(d *automerge.Doc) Heads {
	hs := d.Heads()
	out := make(Heads, len(hs))
	for i, h := range hs {
		out[i] = Hash(h)
	}
	sortHeads(out)
	return out
}

func sortHeads(hs Heads) {
	slices.SortFunc(hs, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
}

func (d *docState) has(h Hash) bool {
	_, err := d.doc.Change(automerge.ChangeHash(h))
	return err == nil
}

// Open implements Engine.
func (l *Local) Open(_ context.Context, id string, data []byte) (hs Heads, err error) {
	defer catch(&err)
	if len(data) > l.opts.MaxDocument {
		return nil, fmt.Errorf("%w: document of %d bytes", ErrTooLarge, len(data))
	}
	rssBefore := rss()
	doc, err := loadDoc(data)
	if err != nil {
		return nil, err
	}
	hs = heads(doc)
	l.mu.Lock()
	l.docs[id] = &docState{doc: doc, peers: map[string]*peerState{}, pending: map[Hash][]byte{}, noLive: l.opts.NoLive,
		api: newAPIState(rssBefore, hs)}
	l.mu.Unlock()
	return hs, nil
}

// loadDoc loads a leading document chunk with Load (much faster than
// replaying it) and the rest incrementally.
func loadDoc(data []byte) (*automerge.Doc, error) {
	if len(data) == 0 {
		return automerge.New(), nil
	}
	first, rest := splitFirstDocChunk(data)
	var doc *automerge.Doc
	if first != nil {
		d, err := automerge.Load(first)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		doc = d
	} else {
		doc = automerge.New()
	}
	if len(rest) > 0 {
		// automerge-rs 0.5.0 stops at a chunk it cannot parse and drops
		// it and everything after it without an error: check the framing
		// (and change checksums) first, so that damage is an error.
		if _, err := splitChunks(rest); err != nil {
			return nil, err
		}
		if err := doc.LoadIncremental(rest); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	return doc, nil
}

// splitFirstDocChunk returns the first chunk when it is a document chunk
// (type 0), and the remaining bytes.
func splitFirstDocChunk(b []byte) (first, rest []byte) {
	if len(b) < 9 || !bytes.Equal(b[:4], chunkMagic) || b[8] != 0 {
		return nil, b
	}
	r := &reader{b: b, off: 9}
	r.take(r.uleb())
	if r.err != nil {
		return nil, b
	}
	return b[:r.off], b[r.off:]
}

// Receive implements Engine.
func (l *Local) Receive(_ context.Context, r Receive) (res Result, err error) {
	defer catch(&err)
	d, err := l.get(r.Doc)
	if err != nil {
		return res, err
	}
	if len(r.Msg) > l.opts.MaxMessage {
		return res, fmt.Errorf("%w: sync message of %d bytes", ErrTooLarge, len(r.Msg))
	}
	m, err := parseSyncMessage(r.Msg)
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
	// What was present before the message, for every hash we will need to
	// reason about afterwards. Asking Automerge costs a call and a result
	// to free, so the heads answer first: a head is present, and a change
	// whose dependencies are all heads is absent unless it is a head
	// itself (present, it would have succeeded them). That settles a
	// keystroke from a peer in sync without asking.
	had := map[Hash]bool{}
	note := func(h Hash) {
		if _, ok := had[h]; !ok {
			had[h] = slices.Contains(before, h) || d.has(h)
		}
	}
	for _, c := range m.changes {
		for _, dep := range c.deps {
			note(dep)
		}
		if _, ok := had[c.hash]; !ok && !c.opaque && len(c.deps) > 0 && !slices.Contains(before, c.hash) && before.containsAll(c.deps) {
			had[c.hash] = false
		}
		note(c.hash)
	}
	pendingDeps := map[Hash][]Hash{}
	for h, b := range d.pending {
		if c, err := parseChange(b); err == nil {
			pendingDeps[h] = c.deps
			for _, dep := range c.deps {
				note(dep)
			}
		}
	}

	if err := d.checkSeqs(m.changes, had); err != nil {
		return res, err
	}
	p := d.peer(r.Peer)
	applied := !l.opts.NoLive && d.applyLive(p, m, had)
	if applied {
		p.stale = true
	} else {
		p.live = false
		if _, err := d.syncState(p).ReceiveMessage(r.Msg); err != nil {
			return res, fmt.Errorf("%w: %v", ErrBadMessage, err)
		}
	}
	res.Heads = heads(d.doc)
	res.TheirHeads = append(Heads(nil), m.heads...)
	sortHeads(res.TheirHeads)

	var chunks [][]byte
	if !before.Equal(res.Heads) || len(m.changes) > 0 {
		chunks = d.collectNew(m.changes, had, pendingDeps, before, res.Heads)
		d.noteSeqs(chunks)
		res.Changes, res.NChanges = bytes.Join(chunks, nil), len(chunks)
		d.apiState().grew(res.NChanges, len(res.Changes))
	}

	// The live path: peers known to be in sync get acknowledgements and new
	// changes in hand-built messages, whose cost does not grow with the
	// history; Automerge's own GenerateMessage (which does) runs only for
	// peers that are behind, ahead, or unknown.
	catchingUp := len(m.changes) == 0 && len(m.need) == 0 &&
		(p.ackDirect(res.TheirHeads) || p.live && len(p.direct) > 0 && d.hasAll(res.TheirHeads))
	if !catchingUp {
		p.theirHeads = res.TheirHeads
		p.direct = nil
	}
	if res.TheirHeads.Equal(res.Heads) {
		// Confirmed in sync: from now on this peer takes the live path.
		p.live = true
		p.shared = res.Heads
	}
	// A fresh peer with a current core gets the whole document as one
	// compact chunk instead of every change of its history (a
	// per-keystroke document is ~200 times smaller this way), unless the
	// document cannot be written as a snapshot that loads (ErrDamaged).
	var whole []byte
	if !catchingUp && !l.opts.NoLive && m.modern && len(m.need) == 0 && len(res.TheirHeads) == 0 && len(res.Heads) > 0 {
		whole, _ = d.snapshot()
	}
	switch {
	case catchingUp:
	case len(m.need) == 0 && res.TheirHeads.Equal(res.Heads):
		if !p.acked.Equal(res.Heads) {
			res.Reply, res.replyBuilt = d.build(res.Heads, nil)
			p.acked = res.Heads
		}
	case whole != nil:
		// Then treat it like a direct send it will acknowledge.
		res.Reply = buildMessage(res.Heads, res.Heads, [][]byte{whole})
		p.theirHeads = res.Heads
		p.pushDirect(res.Heads)
		p.acked = res.Heads
		p.stale = true
	default:
		// The full protocol. If the live path applied this message, the
		// sync state has not seen it: restart the state from the shared
		// heads and let it read the message (its changes are in already).
		p.live = false
		if applied {
			if _, err := d.syncState(p).ReceiveMessage(r.Msg); err != nil {
				return res, fmt.Errorf("%w: %v", ErrBadMessage, err)
			}
		}
		out, ok := p.ss.GenerateMessage()
		if !ok && !res.TheirHeads.Equal(res.Heads) {
			// automerge-rs 0.5.0 stall (automerge#702, fixed in #703):
			// in_flight survives a receive while the peer advertises heads
			// we lack, so with heads unchanged it never asks for them (a
			// bloom false positive or a change waiting for a dependency
			// starts it) and both sides fall silent for good. Do what
			// fixed cores do, which is to forget in_flight: restart the
			// state from its shared heads, re-read the message (its changes
			// are in already) and answer with what we need.
			if ss, err := automerge.LoadSyncState(d.doc, p.ss.Save()); err == nil {
				if _, err := ss.ReceiveMessage(r.Msg); err != nil {
					return res, fmt.Errorf("%w: %v", ErrBadMessage, err)
				}
				p.ss = ss
				out, ok = ss.GenerateMessage()
			}
		}
		if ok {
			res.Reply = out.Bytes()
			p.acked = nil
		} else if res.TheirHeads.Equal(res.Heads) && !p.acked.Equal(res.Heads) {
			res.Reply, res.replyBuilt = d.build(res.Heads, nil)
			p.acked = res.Heads
		}
	}
	if res.Changed() {
		res.Others = d.fanout(before, res.Heads, chunks, r.Others, r.Peer)
	}
	return res, nil
}

// hasAll reports whether every hash of hs is in the document. A live peer
// acknowledging such heads while direct messages are in flight to it is
// catching up on them: its acknowledgement may name heads the FIFO never
// held (messages several changes long, or sent before it went live), and
// falling back to Automerge's sync state would cost the whole history on
// every acknowledgement of a busy document.
func (d *docState) hasAll(hs Heads) bool {
	for _, h := range hs {
		if !d.has(h) {
			return false
		}
	}
	return true
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
		if !d.noLive && q.theirHeads != nil && q.theirHeads.Equal(before) {
			if direct == nil {
				direct, b = d.build(after, chunks)
			}
			out = append(out, Outgoing{Peer: o, Msg: direct, built: b})
			q.theirHeads = after
			q.stale = true
			q.acked = after
			q.pushDirect(after)
			continue
		}
		if m, ok := d.syncState(q).GenerateMessage(); ok {
			out = append(out, Outgoing{Peer: o, Msg: m.Bytes()})
		}
	}
	return out
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
	had := map[Hash]bool{}
	note := func(h Hash) {
		if _, ok := had[h]; !ok {
			had[h] = d.has(h)
		}
	}
	for _, c := range chunks {
		if c.opaque {
			continue
		}
		note(c.hash)
		for _, dep := range c.deps {
			note(dep)
		}
	}
	pendingDeps := map[Hash][]Hash{}
	for h, b := range d.pending {
		if c, err := parseChange(b); err == nil {
			pendingDeps[h] = c.deps
			for _, dep := range c.deps {
				note(dep)
			}
		}
	}
	if err := d.checkSeqs(chunks, had); err != nil {
		return res, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if len(m.Data) > 0 {
		if err := d.doc.LoadIncremental(m.Data); err != nil {
			return res, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
	res.Heads = heads(d.doc)
	var added [][]byte
	if !before.Equal(res.Heads) || len(chunks) > 0 {
		added = d.collectNew(chunks, had, pendingDeps, before, res.Heads)
		d.noteSeqs(added)
		res.Changes, res.NChanges = bytes.Join(added, nil), len(added)
		d.apiState().grew(res.NChanges, len(res.Changes))
	}
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

// splitChunks splits concatenated Automerge chunks. Change chunks are
// parsed (hash, deps); document and compressed chunks come back opaque.
func splitChunks(b []byte) ([]rawChange, error) {
	var out []rawChange
	for len(b) > 0 {
		if len(b) < 9 || !bytes.Equal(b[:4], chunkMagic) {
			return nil, fmt.Errorf("%w: chunk without magic", ErrCorrupt)
		}
		r := &reader{b: b, off: 9}
		r.take(r.uleb())
		if r.err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, r.err)
		}
		chunk := b[:r.off]
		b = b[r.off:]
		if chunk[8] > 2 {
			return nil, fmt.Errorf("%w: chunk of unknown type %d", ErrCorrupt, chunk[8])
		}
		if chunk[8] != 1 {
			out = append(out, rawChange{opaque: true, bytes: chunk})
			continue
		}
		c, err := parseChange(chunk)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// syncState returns the peer's Automerge sync state, restarted from the
// heads last confirmed shared if the live path left it behind.
func (d *docState) syncState(p *peerState) *automerge.SyncState {
	if p.stale {
		ss, err := automerge.LoadSyncState(d.doc, encodeSyncState(p.shared))
		if err != nil {
			ss = automerge.NewSyncState(d.doc)
		}
		p.ss, p.stale = ss, false
	}
	return p.ss
}

// ack handles, without touching Automerge, the commonest message of all:
// a live peer acknowledging what we sent it (no changes, no need).
func (d *docState) ack(peer string, m syncMessage) (Result, bool) {
	p, ok := d.peers[peer]
	if !ok || !p.live || d.cur == nil || len(m.changes) > 0 || len(m.need) > 0 {
		return Result{}, false
	}
	their := append(Heads(nil), m.heads...)
	sortHeads(their)
	res := Result{Heads: d.cur, TheirHeads: their}
	p.stale = true
	switch {
	case p.ackDirect(their):
	case their.Equal(d.cur):
		p.theirHeads, p.direct, p.shared = their, nil, their
		if !p.acked.Equal(d.cur) {
			res.Reply, res.replyBuilt = d.build(d.cur, nil)
			p.acked = d.cur
		}
	default:
		return Result{}, false
	}
	return res, true
}

// applyLive applies a message from a peer on the live path: no need, and
// changes (if any) whose dependencies are all present or in the message.
// It reports false when the message needs Automerge's sync machinery.
func (d *docState) applyLive(p *peerState, m syncMessage, had map[Hash]bool) bool {
	if !p.live || len(m.need) > 0 {
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

func encodeSyncState(shared Heads) []byte {
	var buf bytes.Buffer
	buf.WriteByte(0x43)
	putHashes(&buf, shared)
	return buf.Bytes()
}

// collectNew returns the change chunks that the last message made part of
// the document. It works from the message's own chunks plus the pending
// ones, and falls back to asking Automerge for everything since the old
// heads when it cannot prove its answer complete (that call costs time in
// proportion to the history, so it is the exception).
func (d *docState) collectNew(msg []rawChange, had map[Hash]bool, pendingDeps map[Hash][]Hash, before, after Heads) [][]byte {
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
			d.pending[c.hash] = bytes.Clone(c.bytes)
		}
	}
	for h, b := range d.pending {
		if d.has(h) {
			delete(d.pending, h)
			if !added[h] {
				added[h] = true
				deps = append(deps, pendingDeps[h])
				out = append(out, b)
			}
		}
	}
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
	if complete {
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

func toAM(hs Heads) []automerge.ChangeHash {
	out := make([]automerge.ChangeHash, len(hs))
	for i, h := range hs {
		out[i] = automerge.ChangeHash(h)
	}
	return out
}

// Generate implements Engine.
func (l *Local) Generate(_ context.Context, id string, peers []string) (out []Outgoing, err error) {
	defer catch(&err)
	d, err := l.get(id)
	if err != nil {
		return nil, err
	}
	for _, p := range peers {
		if m, ok := d.syncState(d.peer(p)).GenerateMessage(); ok {
			out = append(out, Outgoing{Peer: p, Msg: m.Bytes()})
		}
	}
	return out, nil
}

// SetPeer implements Engine.
func (l *Local) SetPeer(_ context.Context, id, peer string, state []byte) (err error) {
	defer catch(&err)
	d, err := l.get(id)
	if err != nil {
		return err
	}
	ss := automerge.NewSyncState(d.doc)
	if state != nil {
		loaded, err := automerge.LoadSyncState(d.doc, state)
		if err != nil {
			return fmt.Errorf("%w: sync state: %v", ErrCorrupt, err)
		}
		ss = loaded
	}
	d.peers[peer] = &peerState{ss: ss}
	return nil
}

// PeerState implements Engine.
func (l *Local) PeerState(_ context.Context, id, peer string) (b []byte, err error) {
	defer catch(&err)
	d, err := l.get(id)
	if err != nil {
		return nil, err
	}
	p, ok := d.peers[peer]
	if !ok {
		return nil, nil
	}
	return d.syncState(p).Save(), nil
}

// DropPeer implements Engine.
func (l *Local) DropPeer(_ context.Context, id, peer string) error {
	d, err := l.get(id)
	if err != nil {
		return err
	}
	delete(d.peers, peer)
	return nil
}

// Save implements Engine.
func (l *Local) Save(_ context.Context, id string) (b []byte, err error) {
	defer catch(&err)
	d, err := l.get(id)
	if err != nil {
		return nil, err
	}
	return d.snapshot()
}

// Heads implements Engine.
func (l *Local) Heads(_ context.Context, id string) (hs Heads, err error) {
	defer catch(&err)
	d, err := l.get(id)
	if err != nil {
		return nil, err
	}
	return heads(d.doc), nil
}

// Probe implements Engine.
func (l *Local) Probe(_ context.Context, data, msg []byte) (err error) {
	defer catch(&err)
	if len(msg) > l.opts.MaxMessage {
		return fmt.Errorf("%w: sync message of %d bytes", ErrTooLarge, len(msg))
	}
	if _, err := parseSyncMessage(msg); err != nil {
		return err
	}
	doc, err := loadDoc(data)
	if err != nil {
		return err
	}
	ss := automerge.NewSyncState(doc)
	if _, err := ss.ReceiveMessage(msg); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	// Some bad changes apply and only abort the core when a reply is built.
	ss.GenerateMessage()
	return nil
}

// Close implements Engine.
func (l *Local) Close(_ context.Context, id string) error {
	l.mu.Lock()
	delete(l.docs, id)
	l.mu.Unlock()
	return nil
}

// Shutdown implements Engine.
func (l *Local) Shutdown() error {
	l.mu.Lock()
	clear(l.docs)
	l.mu.Unlock()
	return nil
}
