// Package natsrelay is a [session.Relay] over NATS: it carries ephemeral
// protocol frames (presence, cursors) between weft nodes on core NATS
// subjects. They are never stored; the documents themselves are shared
// through JetStream (storage/jsstore).
//
// # Subjects
//
//	weft.doc.<documentId>.ephemeral  an ephemeral protocol frame (CBOR, PROTOCOL.md)
//
// Every message carries the header Weft-Node: the sending node's id. A node
// ignores messages with its own id (no echo). A node that has a document
// open subscribes to its subject. A frame over the server's max payload is
// refused, and frames published while disconnected are lost: ephemeral
// messages may be.
//
// # Concurrency and lifetime
//
// Handlers run on nats.go's per-subscription goroutines, in publication
// order per publishing node. New installs a reconnect handler on the
// connection, chaining any already set, that calls the OnReconnect
// functions. Close unsubscribes; it does not close the connection (drain
// it after Close).
package natsrelay
