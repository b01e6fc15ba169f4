// Command weft is a collaborative document server: any automerge-repo
// 2.5.x client can use it as its sync server, and it serves a browser
// editor of its own.
//
//	weft serve [flags]   run a node (the default command)
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
// main calls crdt.MaybeRunWorker first: the engine's worker processes are
// this same binary.
package main
