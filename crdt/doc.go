// Package crdt runs Automerge documents for weft, and is the only package
// that imports automerge-go (automerge-rs 0.5.0 through cgo), besides its
// own test tooling, crdt/crdttest. It knows
// nothing of networks or storage: documents come in and go out as bytes.
//
// # Engines
//
// An Engine holds open documents and, per document, a sync state per peer.
// Two implementations share one interface:
//
//   - Local runs documents in this process. It is fast, and right for
//     trusted input (tests, tools, the load generator's replicas).
//   - Pool runs each document in one of several worker processes: the
//     same binary re-executed with WEFT_CRDT_WORKER=1, whose main calls
//     MaybeRunWorker first (so must every test binary that starts a Pool,
//     from TestMain). automerge-rs 0.5.0 is built with panic=abort, and a
//     crafted sync message makes it abort its whole process; in a Pool that
//     process is a worker, never the server. Requests and answers travel as
//     length-prefixed CBOR frames over the worker's stdin and stdout.
//
// When a worker dies, every request in flight on it fails with ErrCrashed
// and every document it held answers ErrNotOpen until reopened; the
// worker restarts at once (with backoff if it keeps dying: Backoff, in
// backoff.go, is the one retry schedule). Probe replays one message alone
// in a separate probe worker, so that callers can tell the message that
// crashes the core from innocent bystanders.
//
// # The live path
//
// automerge-rs 0.5.0's per-peer sync costs grow with a document's history.
// The engine therefore keeps Automerge's sync state for peers that are
// behind, ahead or unknown, and serves peers confirmed in sync directly:
// new change chunks in hand-built V1 messages (binary.go), their
// keystrokes applied with LoadIncremental, their acknowledgements answered
// from cached heads. A fresh peer with a current core gets the whole
// document as one chunk. Receive reports exactly the change chunks a
// message added, so callers persist them before anything is sent.
//
// Receive (receive.go) takes one message through named steps: parse and
// check it, note what was present, apply it (live or through the sync
// state), collect the chunks it added (changes.go, shared with Merge),
// decide the reply, fan the chunks out. Each peer is in one of four modes
// (peerMode, peer.go): syncing (Automerge serves it), syncing with its
// sync state bypassed by a direct send, live with its sync state tracked,
// and live. The events that move it between them (confirmed, fellBack,
// bypassed, and syncState's restart from the shared heads), and those
// that track what it has (reported, sentDirect, acknowledging), are
// methods in peer.go, with the transition table.
//
// ReceiveAll takes a burst (the messages that queued while the document
// was busy) in one call, and coalesces what each peer would get
// (coalesce.go): consecutive hand-built messages to a peer become one,
// with the last heads and every chunk. A burst of keystrokes then costs
// each live peer one frame and one acknowledgement, which is what keeps a
// busy document's fan-out near the cost of applying its changes. A peer
// whose message is refused has its later messages in the burst refused
// unapplied (its caller disconnects it).
//
// automerge-rs 0.5.0's own sync can stall for good: its in_flight flag
// survives a message whose heads it lacks, so it never asks for them
// (automerge#702, fixed in later cores). Receive detects that case and
// answers from a restarted sync state; crdttest's Replica does the same as
// a client.
// TestRandomizedConvergence checks that every peer converges.
//
// # Concurrency
//
// Calls for one document must come from one goroutine at a time (its
// owner in session); calls for different documents may run concurrently.
// Pool is safe for concurrent use; Local guards its map of documents with a
// mutex and leaves each document to its owner.
//
// # Test tooling
//
// The client side lives in crdt/crdttest, off this API (which is what the
// server uses): Replica, a single-owner client-side document for test and
// load-tool clients, and MutateSyncMessage, the crafted-input generator of
// the robustness tests. crdttest uses only this package's exported API;
// AckMessage and LiveMessage build the messages it sends in sync.
//
// # Server-side API
//
// Edit, View, History and Stats serve the HTTP API (api.go). An edit's ops
// run on a fork of the document, so a bad op changes nothing; its one
// change then enters the document through Merge, which reports it and fans
// it out to peers like any change from another node. Server edits use one
// random actor per document and open, and store change times in seconds,
// as Automerge JS does. automerge-rs 0.5.0 returns the block markers of
// rich text (objects embedded by Automerge JS's splitBlock) as U+FFFC and
// cannot read or write the objects themselves: View renders them as line
// breaks, and a restore that would recreate one fails with ErrBadEdit.
// ParseChanges reads change metadata in Go, for untrusted bytes.
//
// # Automerge's binary formats
//
// binary.go holds the one Go parser of Automerge bytes: chunk framing,
// change chunks (hash, deps; the rest of a change's header read by one
// function, for the sequence check and ParseChanges), and V1 sync
// messages, with the writers of hand-built messages. ParseSyncMessage and
// SyncMessageChanges export it for load tools.
//
// # Untrusted input
//
// Sync messages and documents from the network are untrusted: they are
// size-checked, parsed in Go (structure and change checksums, which 0.5.0
// does not verify) before automerge-rs sees them, and in a server only
// ever reach automerge-rs inside a worker. automerge-go panics (in Go) on
// unexpected C results; those panics become ErrBadMessage. Document ids
// are bs58check strings (ParseDocumentID).
package crdt
