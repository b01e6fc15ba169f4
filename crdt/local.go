package crdt

import (
	"context"
	"fmt"
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
	// when they finally apply (changes.go).
	pending map[Hash]pendingChange
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
	l.docs[id] = &docState{doc: doc, peers: map[string]*peerState{}, pending: map[Hash]pendingChange{}, noLive: l.opts.NoLive,
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

// hasAll reports whether every hash of hs is in the document.
func (d *docState) hasAll(hs Heads) bool {
	for _, h := range hs {
		if !d.has(h) {
			return false
		}
	}
	return true
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

// Save implements Engine. The snapshot is not checked to load (that costs
// a whole load): a caller that stores it checks it first (Probe).
func (l *Local) Save(_ context.Context, id string) (b []byte, err error) {
	defer catch(&err)
	d, err := l.get(id)
	if err != nil {
		return nil, err
	}
	return d.doc.Save(), nil
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

// Contains implements Engine.
func (l *Local) Contains(_ context.Context, id string, hs Heads) (ok bool, err error) {
	defer catch(&err)
	d, err := l.get(id)
	if err != nil {
		return false, err
	}
	for _, h := range hs {
		if !d.has(h) {
			return false, nil
		}
	}
	return true, nil
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
