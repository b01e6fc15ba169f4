// Package cluster links a node to the other weft nodes: it connects to
// NATS (--nats, retrying in the background while the node serves its own
// clients), opens the documents' store in JetStream, starts the session
// relay (ephemeral frames) over it, keeps this node's id in the local
// store, and drains the connection on shutdown.
//
// Mutable state: the relay pointer the NATS connect callback reads is an
// atomic, stored once the relay exists; the closed channel is closed by
// NATS's closed callback. Everything else is set in Join and only read.
package cluster
