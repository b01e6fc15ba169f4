// Package syncmsg is the part of the Automerge V1 sync message
// (PROTOCOL.md §4.8) weft-bench's light readers need without calling
// Automerge: the heads, the needs and the changes (hash, dependencies,
// bytes) of a message, a builder for the message that hands received
// changes to a Replica, and the heads of changes received in any order.
package syncmsg
