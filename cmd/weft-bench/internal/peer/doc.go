// Package peer is the load-generating client's connection: one WebSocket
// that has joined an automerge-repo server (join, then the server's peer
// message), sends and reads protocol messages, and counts the bytes it
// moves.
package peer
