package session

import (
	"context"
)

// Relay joins the nodes of a cluster: every node is an Automerge peer of
// the others (DESIGN.md, "Across nodes"). A Manager with a Relay subscribes
// to a document's traffic when it opens the document, catches up from the
// other nodes, publishes the changes its own peers make once they are
// durable, and merges what the others publish. A node never receives its own
// messages back.
//
// [NewMemRelayNetwork] joins Managers in one process (tests);
// session/natsrelay joins processes through NATS.
//
// All methods are safe for concurrent use. Handlers are called from the
// relay's goroutines, never from inside a Relay method called by the
// document, and in publication order per publishing node and document; they
// may block briefly (a document's inbox pushes back).
type Relay interface {
	// Subscribe starts delivering other nodes' messages for doc to h until
	// the returned cancel is called. cancel does not wait for a handler
	// call in progress.
	Subscribe(doc string, h RelayHandler) (cancel func(), err error)
	// PublishChanges sends change chunks accepted on this node, after they
	// are persisted.
	PublishChanges(ctx context.Context, doc string, changes []byte) error
	// PublishEphemeral sends an ephemeral protocol frame (presence,
	// cursors); it is never persisted.
	PublishEphemeral(doc string, frame []byte) error
	// Poke tells the nodes that have doc open that this node may have
	// changes they lack (after a reconnect, or changes too large to
	// publish): their handlers' RelayCatchUp is called.
	Poke(doc string) error
	// CatchUp asks the other nodes for what they have of doc and returns
	// their answers (concatenated Automerge chunks, loadable with
	// crdt.Engine.Merge). It returns when every node it knows of has
	// answered, when a short gather window has passed, or when ctx ends,
	// with the answers it has.
	CatchUp(ctx context.Context, doc string) ([][]byte, error)
	// Serve answers other nodes' catch-up requests with load(doc), whether
	// or not the document is open here (nil: nothing). Call it once.
	Serve(load func(doc string) ([]byte, error)) error
	// OnReconnect registers f, called (from a relay goroutine) after the
	// relay's connection came back: messages may have been missed.
	OnReconnect(f func())
	// Close stops every subscription. It is idempotent.
	Close() error
}

// RelayHandler receives one document's messages from other nodes.
type RelayHandler interface {
	// RelayChanges delivers change chunks another node published.
	RelayChanges(changes []byte)
	// RelayEphemeral delivers an ephemeral protocol frame.
	RelayEphemeral(frame []byte)
	// RelayCatchUp says messages may have been lost (a slow subscription,
	// a poke): the document should catch up.
	RelayCatchUp()
}
