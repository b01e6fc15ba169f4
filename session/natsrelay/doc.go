// Package natsrelay is a [session.Relay] over NATS: weft nodes joined by a
// NATS server or cluster act as one, each an Automerge peer of the others.
//
// # Subjects
//
// Every message carries the header Weft-Node: the sending node's id. A node
// ignores messages with its own id (no echo).
//
//	weft.doc.<documentId>.changes    change chunks a node accepted from its own
//	                                 peers, published after they are durable;
//	                                 body: concatenated Automerge change chunks
//	weft.doc.<documentId>.ephemeral  an ephemeral protocol frame (CBOR, PROTOCOL.md);
//	                                 never persisted
//	weft.doc.<documentId>.poke       empty: "I may have changes you lack, catch up"
//	                                 (after a reconnect, or instead of changes
//	                                 larger than the server's max payload)
//	weft.catchup.<documentId>        catch-up request, empty body, with a reply
//	                                 subject (an inbox of the asking node)
//	weft.node                        membership: header Weft-Event is hello (a node
//	                                 started or reconnected; others answer with a
//	                                 beat at once), beat (every Options.Heartbeat)
//	                                 or bye (a node closing)
//
// A node that has a document open subscribes to weft.doc.<documentId>.*;
// every node subscribes to weft.catchup.* and weft.node.
//
// # Catch-up answers
//
// Every node answers a catch-up request, from its store, whether or not it
// has the document open: the document's stored chunks (snapshots, then
// change chunks), split into parts that fit the server's max payload. Each
// part carries Weft-Node and Weft-Part: "<i>/<n>" (0-based i; parts of one
// answer arrive in order, one answer per node); a node that has nothing
// answers one message with Weft-Part "0/0" and no body. The asking node
// waits until every live node it knows of (from weft.node) has answered
// completely, or Options.Gather passes, or its context ends.
//
// # Concurrency and lifetime
//
// Handlers run on nats.go's per-subscription goroutines, in publication
// order per publishing node. New installs reconnect and error handlers on
// the connection, chaining any already set: after a reconnect it pokes the
// documents whose publications failed meanwhile and calls the OnReconnect
// functions; a slow-consumer error on a document's subscription calls its
// handler's RelayCatchUp. Close says bye, unsubscribes and waits for its
// goroutines; it does not close the connection (drain it after Close).
package natsrelay
