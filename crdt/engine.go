package crdt

import "context"

// Engine runs Automerge documents and per-peer sync states. A document is
// addressed by its id, a peer by any string the caller picks. Calls for one
// document must come from one goroutine at a time (its owner); calls for
// different documents may run concurrently.
type Engine interface {
	// Open loads a document from stored bytes (snapshot and change chunks
	// concatenated; nil for a new empty document), replacing any open copy
	// and dropping its sync states.
	Open(ctx context.Context, doc string, data []byte) (Heads, error)
	// Receive applies a peer's sync message. See Receive and Result.
	Receive(ctx context.Context, r Receive) (Result, error)
	// ReceiveAll applies several sync messages for one document in order,
	// in one call (one worker round trip). errs[i] is message i's own error
	// (ErrBadMessage, ErrTooLarge); err is a failure of the whole call
	// (ErrCrashed, ErrNotOpen, ErrClosed), after which the caller must
	// assume none of them was applied durably.
	ReceiveAll(ctx context.Context, rs []Receive) (results []Result, errs []error, err error)
	// Generate returns the next sync message for each peer that has one.
	Generate(ctx context.Context, doc string, peers []string) ([]Outgoing, error)
	// SetPeer (re)starts a peer's sync state: from a saved state, or fresh
	// when state is nil.
	SetPeer(ctx context.Context, doc, peer string, state []byte) error
	// PeerState returns the peer's encoded sync state (shared heads only).
	PeerState(ctx context.Context, doc, peer string) ([]byte, error)
	// DropPeer forgets a peer's sync state.
	DropPeer(ctx context.Context, doc, peer string) error
	// Save returns the whole document as one snapshot chunk. automerge-rs
	// 0.5.0 can write snapshots that do not load (ErrDamaged): before one
	// is stored, Probe it (session does, off the document's goroutine).
	Save(ctx context.Context, doc string) ([]byte, error)
	// Heads returns the document's current heads.
	Heads(ctx context.Context, doc string) (Heads, error)
	// Contains reports whether the document holds every change of hs (and
	// so everything they depend on): a node told another's snapshot heads
	// knows without reading it whether it lacks anything.
	Contains(ctx context.Context, doc string, hs Heads) (bool, error)
	// Probe applies msg, from a fresh sync state, to a throwaway copy of the
	// document loaded from data, in isolation. A Pool runs it alone in a
	// worker of its own, so ErrCrashed from Probe convicts msg; other
	// errors are the message's own.
	Probe(ctx context.Context, data, msg []byte) error
	// Merge loads change or document chunks that another node sent into
	// the document (duplicates are harmless; changes whose dependencies are
	// missing wait inside Automerge) and reports, like Receive, the changes
	// that became part of the document, its heads, the next sync message
	// for each of m.Peers, and in Waiting how many changes still wait for
	// dependencies (a sign that a message was lost: catch up).
	Merge(ctx context.Context, m Merge) (Result, error)
	// Edit commits a server-side change (see Edit) and reports, like
	// Receive, the change chunk, the heads and the next sync message for
	// each of e.Peers. A bad op fails the whole edit with ErrBadEdit.
	Edit(ctx context.Context, e Edit) (Result, error)
	// View returns the document, or part of it, as JSON (see View).
	View(ctx context.Context, v View) ([]byte, error)
	// History returns a page of the document's changes, newest first, and
	// how many changes it has in all.
	History(ctx context.Context, q HistoryQuery) (page []ChangeMeta, total int, err error)
	// Stats describes an open document.
	Stats(ctx context.Context, doc string) (Stats, error)
	// Close unloads a document.
	Close(ctx context.Context, doc string) error
	// Shutdown releases every document (and stops workers).
	Shutdown() error
}

// Receive is one incoming sync message.
type Receive struct {
	Doc  string
	Peer string
	Msg  []byte
	// Others are the document's peers: when the message changed the
	// document, each of them but Peer gets its next sync message in
	// Result.Others.
	Others []string
}

// Result is what applying a sync message produced.
type Result struct {
	// Reply is the next message for the sender; nil when there is none.
	Reply []byte
	// Changes holds the change chunks this message added to the document,
	// concatenated (loadable after the stored chunks), and NChanges their
	// number. Empty when the document did not change.
	Changes  []byte
	NChanges int
	// Heads are the document's heads after the message; TheirHeads the
	// heads the sender advertised.
	Heads      Heads
	TheirHeads Heads
	Others     []Outgoing
	// Waiting (Merge only) counts changes that wait for dependencies.
	Waiting int

	replyBuilt *built // Reply is hand-built (ReceiveAll may coalesce it)
}

// Merge is a batch of chunks from another node.
type Merge struct {
	Doc  string
	Data []byte
	// Peers are the document's peers: when the chunks changed the
	// document, each of them gets its next sync message in Result.Others.
	Peers []string
}

// Changed reports whether the message added changes.
func (r Result) Changed() bool { return r.NChanges > 0 }

// Outgoing is a sync message for one peer.
type Outgoing struct {
	Peer string
	Msg  []byte

	built *built // Msg is hand-built (ReceiveAll may coalesce it)
}
