// Command weft is a collaborative document server: any automerge-repo
// 2.5.x client can use it as its sync server, and it serves a browser
// editor of its own.
//
//	weft serve [flags]   run a node (the default command)
//	weft token [flags]   mint an HS256 development token
//	weft version
//
// This package is the only one that reads flags and the environment. It
// wires storage (bbolt, one file in --data), the crdt worker pool, the
// session manager, melody for WebSockets (upgrades on any path), the NATS
// relay (--nats), the embedded editor, health, readiness and Prometheus
// metrics, and the shutdown order: stop HTTP, close peers with "reconnect"
// and flush every document, close the relay and drain NATS, stop the
// workers, close bbolt last. A second SIGINT or SIGTERM exits at once.
//
// Security (README "Security"): auth.go verifies JWTs (--auth jwt) on the
// upgrade and on /api/, and turns their claims into a session.Auth (a role
// per document); limits.go admits connections (admission bucket, per-IP
// and total caps) and throttles each connection's messages and bytes;
// tls.go serves --tls-cert and reloads it on SIGHUP. A refused upgrade is
// accepted and closed with a close code (4005, 4505), never an HTTP error,
// and leaves an audit log line (attribute "audit"). "weft token" mints a
// development token (token.go).
//
// main calls crdt.MaybeRunWorker first: the engine's worker processes are
// this same binary.
package main
