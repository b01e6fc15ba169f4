package session

// Relay carries ephemeral protocol frames (presence, cursors) between the
// nodes of a cluster (DESIGN.md, "Across nodes"). They are never stored:
// documents themselves cross through the store every node shares (a
// [SharedLog]), so a Manager with a Relay needs one. A Manager subscribes
// to a document's frames while the document is open and publishes its own
// peers' frames; a node never receives its own frames back.
//
// [NewMemRelayNetwork] joins Managers in one process (tests);
// session/natsrelay joins processes through NATS.
//
// All methods are safe for concurrent use. Handlers are called from the
// relay's goroutines, never from inside a Relay method called by the
// document, and in publication order per publishing node and document; they
// may block briefly (a document's inbox pushes back).
type Relay interface {
	// Subscribe starts delivering other nodes' ephemeral frames for doc to
	// h until the returned cancel is called. cancel does not wait for a
	// handler call in progress.
	Subscribe(doc string, h func(frame []byte)) (cancel func(), err error)
	// PublishEphemeral sends an ephemeral protocol frame; it may be lost.
	PublishEphemeral(doc string, frame []byte) error
	// OnReconnect registers f, called (from a relay goroutine) after the
	// relay's connection came back: the Manager then catches its open
	// documents up from the store at once, rather than at their next
	// retry.
	OnReconnect(f func())
	// Close stops every subscription. It is idempotent.
	Close() error
}
