// Package metrics exports a node's Prometheus metrics on a registry of its
// own: the session.Metrics hooks, storage commits, refusals by limits and
// authentication, recovered panics, and the open documents' memory.
//
// Mutable state: the Prometheus collectors, which are safe for concurrent
// use; Metrics adds none of its own. Live counts (connections, commits,
// memory) are read from the session manager and the store at scrape time.
package metrics
