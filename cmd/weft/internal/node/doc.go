// Package node is one weft server: it builds the parts in dependency
// order (bbolt storage, the crdt worker pool, the NATS cluster link, the
// session manager, webhooks, the WebSocket transport, the HTTP API and the
// router in front of them), serves HTTP, and shuts them down in the
// reverse order. Node.Run serves until its context ends; Node.Shutdown
// stops everything within its context's deadline: stop accepting, close
// peers with "reconnect" and flush every document, close the relay and
// drain NATS, deliver the last webhooks, stop the workers, close bbolt
// last.
//
// The router (handler.go) sends WebSocket upgrades on any path (Node
// clients crash on a refused upgrade, PROTOCOL.md §6) through admission
// and authentication to the transport, and everything else to health,
// readiness, metrics, /status, /api/ and the embedded editor. Every HTTP
// request passes panic recovery first.
//
// Mutable state: the readiness flag (an atomic, set by Run and Shutdown,
// read by /readyz); Shutdown runs once (sync.Once). The parts are built by
// start before anything is served and are read-only afterwards; each
// owns its own state (see their packages).
package node
