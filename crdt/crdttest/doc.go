// Package crdttest holds crdt's client-side tooling for test and load-tool
// clients: Replica, an in-process Automerge document with one sync state
// (the client side of a sync), and MutateSyncMessage, the crafted-input
// generator of the robustness tests. It keeps them off crdt's exported
// API, which is what the server uses; it uses only that API (and
// automerge-go), never crdt's internals.
//
// Replica runs automerge-rs in this process: feed it only trusted bytes.
package crdttest
