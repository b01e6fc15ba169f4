// Package session speaks the automerge-repo WebSocket protocol (PROTOCOL.md §3–§4) on behalf
// of weft: it answers join, runs the per-peer Automerge sync of every document a client
// opens, relays ephemeral messages, and persists every change before anything that reflects
// it leaves the server.
//
// It knows nothing of HTTP or WebSockets: the transport (melody in cmd/weft, a fake in the
// tests) sits behind the small [Conn] interface, documents run in a [crdt.Engine], and bytes
// go to a [Store].
//
// # The store
//
// [Store] (store.go) is the seam between session and durable storage: the operations the
// Manager uses (chunks appended, compacted and loaded, per-peer sync states, document
// metadata and listing, named versions, deletion), with their contract in its doc comments;
// chiefly, a write returns only once it is durable. Session owns the interface; the data
// types and errors stay package storage's, so session imports storage and never the other
// way round. [*storage.Store] (bbolt, group commit) satisfies it as it is and is what
// cmd/weft passes in [Config.Store]; another backend implements the same methods and passes
// the contract suite in storage/storagetest, which storage's own tests run for bbolt.
//
// # Core types
//
// [Manager] owns the open documents and the connected clients. [Manager.Connect] registers a
// transport connection and returns its [Client]; [Manager.Shutdown] stops everything.
//
// [Client] is one connection. The transport hands it every binary frame with
// [Client.Receive] and reports the end of the connection with [Client.Closed]. A connection
// must send join first; after that, frames whose senderId is not the joined peer are dropped,
// as the reference server does. A newer connection joining with the same peer id replaces the
// older one (closed with [CloseReplaced]).
//
// A document (unexported) is one open Automerge document: its engine copy, the sync state of
// each subscribed peer, and its stored chunks. A peer subscribes by sending sync or request
// for it; it is loaded on the first such message, and unloaded once it has had no peer for
// [Config.IdleUnload]. Ephemeral messages never open a document.
//
// [Message], [Encode] and [Decode] are the wire format: one CBOR map per WebSocket message,
// decoded as cbor-x writes it (non-minimal map headers, undefined values).
//
// # Files
//
// Who owns what state, file by file ("document goroutine": only the document's own goroutine
// touches it; see the concurrency model below).
//
//   - doc.go: this overview.
//   - manager.go: [Manager], [Config], [Conn], [Metrics]; the maps of open documents, clients,
//     strikes and bans (the Manager's mutex); posting events; [Manager.Shutdown].
//   - client.go: [Client], one connection (its read-path fields are the reader goroutine's):
//     join, sync and ephemeral intake, send, close and fail.
//   - access.go: [Auth] and [Role]; who may read or write which document.
//   - wire.go: [Message], [Encode], [Decode].
//   - closecode.go: the close codes, [CloseError] and the predeclared close values; truncate.
//   - errors.go: session's sentinel errors ([ErrNotFound], [ErrUnavailable], [ErrShutdown], ...).
//   - document.go: the document type and its fields (document goroutine), events, the run loop
//     (batches, timers, idle and budget unloads, stop).
//   - round.go: the round (one batch: changes to persist, frames to send, calls to answer),
//     process and persist; persist before send.
//   - load.go: load and open; restart, the one reaction to a dead worker; retryDelay.
//   - syncpath.go: peers' sync messages through the engine (syncRun, sync, applied, reject,
//     resync).
//   - relaying.go: the document's cross-node side: its [Relay] subscription (other nodes'
//     ephemera), catching up (from the shared store) and resyncing refused peers, merge.
//     relay.go is the Relay interface (ephemeral frames only), memrelay.go an in-process
//     one; sharedlog.go follows a [SharedLog] store, which carries documents across nodes.
//   - peers.go: the document's peer set (peer, peerKeys, leave, drop) and ephemeral fan-out.
//   - compact.go: compaction into one snapshot, and close.
//   - damage.go: damaged documents (salvage, set-aside chunks, [Manager.Damage]).
//   - panic.go: recovering panics on document and reader goroutines.
//   - memory.go: memory accounting and the budget (figures under the Manager's mutex).
//   - events.go: [Manager.Subscribe] and the change, join and leave events (own mutex).
//   - api.go: the document API ([Manager.Edit], View, History, Upload, Delete, versions), run
//     as calls on the document goroutine.
//   - httpsync.go: [Manager.SyncHTTP], sync over plain HTTP (its own mutex, hmu).
//   - store.go: the [Store] interface.
//
// # Concurrency model
//
//   - [Client.Receive] and [Client.Closed] run on the transport's read goroutine, one call at
//     a time. They decode, validate and post events to document inboxes; they do no engine
//     or storage work (they block only while a document's inbox is full, which pushes back
//     on that connection). The peer reply to join is queued from Receive itself, before any
//     storage I/O (clients give up after one second, PROTOCOL.md §3.7). Until the join,
//     Receive does its work on a short-lived goroutine and waits for it (still one call at a
//     time): a join needs a deeper stack than later messages, and the reader's own stack
//     would keep that depth for the connection's life.
//   - Each document has one goroutine that owns its engine state (the Automerge document and
//     the per-peer sync states, which are not goroutine-safe), its peer set and its
//     persistence. Receive reaches it only through the document's inbox. The goroutine
//     takes queued events in batches and applies them in order.
//   - [Conn.Send] and [Conn.Close] are called from document goroutines (sync replies, fan-out,
//     relayed ephemera, evictions), from the read goroutine (peer, error, protocol closes),
//     and from timers and Shutdown; a Conn must allow that. Send must not block: a failed Send
//     closes the connection with [CloseSlowConsumer], because a dropped sync message would
//     stall that peer's sync. The client reconnects and resyncs.
//   - Memory accounting ([Config.MemoryBudget], memory.go): each document goroutine measures
//     its own engine copy (crdt.Engine.Stats) and reports it after each batch; the figures
//     the Manager keeps (per document, the total, last use, idleness) are guarded by the
//     Manager's mutex. Over budget, the Manager only asks idle documents to unload (a
//     channel per document); the document's goroutine decides, as for IdleUnload.
//   - API calls ([Manager.Edit], View, History, Upload, Delete, versions; api.go) run as an
//     event on the document's goroutine, like a peer's message, and are answered after the
//     batch they ran in is durable. [Manager.SyncHTTP] (httpsync.go) gives each HTTP sync
//     peer a Client whose Conn is an in-memory mailbox (its own mutex); the Manager's map of
//     those sessions is guarded by a mutex of its own (hmu), one request per peer at a time
//     by the session's mutex.
//   - Event subscribers ([Manager.Subscribe], events.go) are kept under their own mutex and
//     called on document goroutines, outside it; they must not block.
//   - The [Store] is called from every document goroutine at once, and from API callers'
//     goroutines (List, and Exists before a read), and a [SharedLog]'s Follow callbacks run
//     on its own goroutines; it must be safe for concurrent use. Those callbacks only post
//     the log's entries to the document's inbox, tagged with the follow's number; the
//     document goroutine owns the log position, the highest snapshot coverage its engine is
//     known to hold (known: a compaction marker from another node counts only if the engine
//     holds the snapshot's heads, since a purge may have taken chunks before the follow read
//     them; a compaction is refused, and the document catches up, if a snapshot beyond it is
//     stored), the follow itself, and the set of peers whose changes a failed persist
//     refused (sharedlog.go, compact.go, relaying.go).
//   - [Manager]'s mutex guards its maps only (documents, clients, strikes, bans); it is never
//     held across engine, storage or transport calls, except Conn.Close in Connect after
//     Shutdown has begun.
//
// # Persist before send
//
// A document goroutine handles a batch of events as one round (round.go): the handlers add
// engine results to it (round.take), then it appends every change they added to the store
// (each Append returns once durable; the bbolt store group-commits and fsyncs the writes of
// every document together), and only then sends the replies and the fan-out to other peers
// and answers the batch's API calls. A head advertised to any client is therefore always
// durable: a client acknowledged for an edit never loses it, even to kill -9 (unless the
// store runs with NoSync). If the append fails, nothing is sent and the document is reloaded
// from what is durable.
//
// # Engine crashes
//
// With a [crdt.Pool] engine, a crafted sync message can kill the worker process running a
// document (automerge-rs aborts), and with it every request in flight on that worker. Every
// call that meets crdt.ErrCrashed or crdt.ErrNotOpen (a peer's message, a merge from another
// node, an API call, a compaction, a resync) takes one path, document.restart (load.go): it
// persists what the round accepted so far, reloads the document from storage, restarts every
// peer's sync state and queues each peer a fresh sync message; a reload that keeps meeting
// dead workers is retried a bounded number of times (retryDelay), and if it still fails the
// peers are closed with [CloseInternal] so that they reconnect. If a peer's own message was in
// flight at the crash, it is then replayed alone with [crdt.Engine.Probe] (a Pool runs probes
// one at a time, in a worker of their own): a crash there convicts the message, an innocent
// one is retried. The convicted sender is closed with [CloseBadSyncMessage] and struck, by peer
// id and by remote address; [Config.StrikeLimit] strikes within [Config.StrikeWindow] refuse
// its joins with [CloseBanned] for [Config.BanDuration]. A message Automerge merely rejects
// also closes with CloseBadSyncMessage, without a strike. Other documents of the dead worker
// recover the same way on their next call; their peers stay connected. An API call that met
// the dead worker fails with [ErrUnavailable].
//
// # Close codes
//
// 4000–4499 are transient, and the client reconnects: [CloseShutdown] (server stopping),
// [CloseSlowConsumer] (send queue full), [CloseReplaced] (newer connection with the same peer
// id), [CloseJoinTimeout] (no join within [Config.JoinTimeout]), [CloseInternal] (the
// document's engine or storage failed), [CloseTryAgainLater] (admission refused for now),
// [CloseRateLimited] (over the per-connection message or byte rate for too long).
// 4500–4999 mean "do not retry unchanged": [CloseProtocol] (not a protocol message, sync
// without data), [CloseVersion] (no supported protocol version; an error message precedes
// it), [CloseTooLarge], [CloseBanned], [CloseBadSyncMessage] (a sync message Automerge cannot
// read or that crashed it), [CloseUnauthorized] (no valid token), [CloseTooManyDocs] (over
// [Config.MaxDocsPerConn]).
//
// Every close session makes is one of the predeclared [CloseError] values in closecode.go
// (ErrCloseReplaced, ErrCloseRestarting, ...), each a code and a reason; one that carries a
// detail (a document id, an engine error) is built with [CloseError.With]. Reasons are cut to
// the 123 bytes a close frame holds, at a rune boundary. [Client.Close] takes a bare code and
// reason for the transport's own limits.
//
// # Access
//
// [Manager.Connect] takes what the transport verified ([Auth]): a role per document. A peer
// with [RoleNone] gets doc-unavailable, as for a missing document, and its message is neither
// applied nor opens anything. A [RoleRead] peer receives everything; a sync message of its
// that carries changes (counted with crdt.MessageChanges before the engine sees it) is
// refused with an error message, and its sync state restarts (at most every few seconds per
// document) so that it resyncs. Ephemeral messages need a role too, and are limited to
// [Config.EphemeralRate] per connection (the excess is dropped: they are lossy by nature).
//
// # Lifetime
//
// Shutdown closes every client with CloseShutdown, then lets every document finish its
// queued events, save the sync states of its durable peers, compact if due and unload, and
// waits for their goroutines. It is idempotent; Connect afterwards returns [ErrShutdown].
// Shutdown neither stops the engine nor closes the store: the caller does, after it.
package session
