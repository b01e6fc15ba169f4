// Package wstransport is weft's WebSocket transport: melody configured for
// a CRDT peer (origin check, message size, send queue, slow readers
// evicted instead of silently dropped), the adapter from a melody session
// to session.Conn, per-connection rate limits, refused upgrades closed
// with a close code (automerge-repo's Node client crashes on an HTTP
// error), and the rewrite of gorilla's own "message too big" close frame
// (toolarge.go: the only byte-level code, isolated there).
//
// Mutable state: melody owns its sessions (its hub goroutine and locks).
// A wsConn's send-queue count and "limited" flag are atomics shared by
// the writer and melody's callbacks; its ConnRate belongs to the
// connection's read goroutine; its raw net.Conn is set once, on hijack,
// before any callback runs.
package wstransport
