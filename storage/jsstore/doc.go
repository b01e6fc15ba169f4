// Package jsstore is a document store (session.Store, the contract of storage/storagetest)
// on NATS JetStream, shared by every weft node connected to the same JetStream: a write is
// acknowledged once it is stored on a JetStream quorum, and any node serves any document.
// Like package storage it knows bytes and backends, never sessions; no cgo.
//
// # Streams, buckets and subjects
//
// <P> is Options.Prefix ("WEFT" by default). Every stream and bucket has file storage and
// Options.Replicas replicas (3 by default, capped at the cluster's size: Open tries the
// count asked for and goes down while the server answers "replicas not supported" (a single
// server) or "insufficient resources / no suitable peers" (a smaller cluster), and logs it).
//
//	<P>_CHUNKS      stream, subjects <s>.chunk.*, AllowDirect, duplicate window 2 min;
//	                <s> is "weft" for the default prefix, else the prefix in lower case
//	<P>_DOCS        KV: <doc> -> the document's record (below)
//	<P>_TOMBSTONES  KV with MaxAge Options.TombstoneTTL: <doc> -> writer id of the Delete
//	<P>_SYNC        KV: <doc>.<peer> -> encoded sync state
//	<P>_VERSIONS    KV: <doc>.<name> -> storage.Version as JSON (written with Create)
//	<P>_META        KV: storage-id -> the cluster-wide storage id, a UUID v4 (Create; the
//	                first Open wins, every other Store reads it)
//	<P>_SNAPSHOTS   object store: <doc>.<random> -> a snapshot
//	<P>_BLOBS       object store: <doc>.<message id> -> a chunk above the max payload
//	<P>_ASIDE       object store: <doc>.<unix nanos, 20 digits>.<random> -> a set-aside
//	                chunk; the reason is the object's description
//
// <doc>, <peer> and <name> are ids encoded for subjects and keys: an id of only
// [A-Za-z0-9_-] as is, any other "=" + base64url without padding (valid as a subject token
// and a KV key, and never mistaken for a plain id).
//
// # Messages on <s>.chunk.<doc>
//
// Every message has the header Weft-Writer: the random id of the Store instance that wrote
// it. Three kinds:
//   - a chunk: body = the chunk; Weft-Changes: <n>; Nats-Msg-Id: <writer>-<counter> (the
//     server drops a duplicate within the window). A chunk larger than the server's max
//     payload minus 1 KiB for headers is put in <P>_BLOBS first and the message carries
//     Weft-Object: <name> and an empty body; Load and Follow fetch it.
//   - a compaction marker: Weft-Compacted: <upTo>, Weft-Heads: <the snapshot's heads, comma-
//     separated hex, as the writer gave them; absent if it gave none>, empty body.
//   - a delete marker: Weft-Deleted: 1, empty body.
//
// A chunk's sequence number (what Append returns, Chunks.LastSeq, Logged.Seq) is its stream
// sequence: global and monotonic, so greater than every chunk stored before it.
//
// # The document record
//
// <P>_DOCS holds one JSON record per document: created and updated (Unix ns), the change
// count, the last sequence, the snapshot (object name, the sequence upTo it covers, its
// size) and the list of incremental chunks after upTo (sequence, size, blob name if any).
// DocMeta is computed from it. The list is the truth: Load returns exactly the listed chunks
// whatever else the subject holds (markers, chunks purged late, an orphan chunk published for
// a document deleted meanwhile), so a record grows with the chunks since the last compaction
// (about 30 bytes each) and the KV value limit (the max payload) bounds that to some 30 000.
// Every change to a record is revision-checked (Create, or Update with the revision read):
// on a conflict (another node wrote it) the writer reads it again and retries. Each Store
// remembers the last record and revision it saw of recently written documents, so a lone
// writer updates without reading first. List reads every record (a KV watch of the bucket):
// O(documents) per call.
//
// # Append and group commit
//
// Append queues its request for the committer goroutine, which takes every queued Append
// (up to 1024, across all documents), publishes them all with PublishMsgAsync, awaits the
// acknowledgements together (at most Options.PublishTimeout, then ErrUnavailable), then
// updates each document's record once for all its chunks of the batch (up to 16 documents at
// a time), and wakes the waiters. Append returns nil only after its chunk's acknowledgement
// (stored on a quorum) and its record update. A context done before the committer takes the
// request: ctx.Err(), nothing written. While NATS is disconnected Append fails at once with
// ErrUnavailable (it never reaches nats.go's reconnect buffer). A document without a record
// is created by its first Append unless it has a tombstone (ErrDeleted): the committer
// checks the tombstone before it publishes, for each document of the batch whose record this
// Store has not seen; a chunk published for a document deleted meanwhile through another
// node stays an orphan no record lists (its record update fails with ErrDeleted).
//
// # Compaction
//
// Compact(doc, snapshot, upTo, total): (1) put the snapshot in <P>_SNAPSHOTS under a fresh
// name; (2) commit: a revision-checked update of the record pointing at it, with the chunks
// up to upTo dropped from the list (the commit point: a conflict with appends retries on the
// new record; a conflict with another compaction loses with ErrInvalid and deletes its
// object); (3) publish the compaction marker; (4) purge the subject below b+1, where b is
// upTo or, if lower, the ack floor of the least advanced feed (a message purged while a
// consumer has it pending is dropped from its pending list, undelivered: the feeds' changes
// would be lost; what is kept goes with a later compaction or Delete; WithPurgeSequence(n)
// purges up to but not including n, so later chunks and the marker stay); (5) delete the
// replaced snapshot and the blobs of the purged chunks. A crash at any step loses
// nothing: before (2) the record still points at the old snapshot and every listed chunk is
// still there (the new object is an orphan); after (2) the new snapshot and the chunks after
// upTo are all there, and chunks up to upTo left by a missed (4) are ignored by Load and
// purged by the next compaction or Delete; a missed (3) leaves followers without the marker,
// but nothing was purged under them; a missed (5) leaks an object (TestCompactCrashAtEveryStep
// stops a compaction dead after each step and loads and compacts again from another Store). Load reads the record,
// then the snapshot and chunks: if the snapshot object or a listed chunk is gone, a
// compaction committed meanwhile, and Load starts again, so it sees everything before or
// after, never a mix.
//
// With several writers, a follow can lose chunks to another writer's purge (it had not reached
// them: restarted late, or lagging) and cannot tell from the sequences, which other documents
// share. So compaction takes what the writer holds: CompactShared(doc, snapshot, upTo, total,
// known, heads) fails with storage.ErrStale before (1) if the record's snapshot covers more
// than known (the highest coverage the writer has merged) or more than upTo: its snapshot
// could lack what that one holds. Compact is CompactShared with known unbounded (one writer).
// The marker's heads tell a follower whether it holds everything the snapshot does.
//
// # Delete and tombstones
//
// Delete: ErrNotFound without a record; else write the tombstone, publish the delete marker,
// purge the subject below the marker (the marker stays for lagging followers), purge the
// record, then the document's sync states, versions, snapshot and blobs (failures there are
// logged: the tombstone already hides them). Set-aside chunks stay. While the tombstone lives
// (Options.TombstoneTTL), Append, Compact, SaveSyncState and PutVersion on that id fail with
// ErrDeleted on every node, and Load fails with an error that is both ErrNotFound and
// ErrDeleted: a deleted document cannot come back through a node that still has it open.
//
// # Follow
//
// Follow(doc, after, f) runs an ordered consumer on the document's subject from after+1 and
// calls f from one goroutine (nats.go's, for that consumer) in stream order: chunks as
// Logged{Seq, Chunk, Changes, Own} (Own: Weft-Writer is this Store's), markers as
// Logged{Seq, Compacted, Heads, Own} and Logged{Seq, Deleted}. The ordered consumer recreates
// itself after a reconnect or a missed heartbeat (1 s), but not after every failure: a pull
// ended by its server's shutdown stalled it for good in a three-server cluster. So each follow
// has a goroutine that recreates its consumer from the next undelivered sequence whenever the
// consumer reports an error, and after every reconnect of the connection (the Store watches
// it), retrying with a delay from 250 ms doubling to 5 s, at most one restart per 250 ms;
// messages of a replaced consumer, and sequences already delivered, are dropped, so nothing is
// lost or delivered twice. A large chunk whose blob was removed before
// the follower read it (compacted or deleted meanwhile) is skipped with a warning: the marker
// that follows covers it. stop ends the follow and waits for a running f; f must not call it.
//
// # Feeds
//
// Feed(name, f) runs a durable pull consumer on <P>_CHUNKS, named FeedConsumer(name) =
// "feed-" + 24 hex digits of SHA-256(name) (weft names a hook's feed by its URL), shared
// by every Store that runs the same feed: filter <s>.chunk.*, DeliverNew (from its first
// creation on), AckExplicit, AckWait 1 min, MaxAckPending 1000, InactiveThreshold 7 days,
// and the pinned-client priority policy on group "weft" with PinnedTTL 10 s: one Store at a
// time gets the messages (verified on nats-server v2.15.2), another is pinned once it
// stops pulling for 10 s or unpins. Pulls are Fetches of up to 256 with 2 s expiry; every
// fetched message goes to f, which calls ack when it is dealt with. Unacknowledged messages
// get InProgress every 20 s; stop ends its pulls, unpins, then Naks every one of them in
// sequence order: the redelivery queue is served before newer messages, so the Store that
// takes over usually gets them first, in order, but not always (a message appended while the
// Naks are on their way can come first; seen under CI load). A Store that dies leaves its
// messages to AckWait (1 min), and its redeliveries follow what was appended in that minute.
// Exactly once holds while acks get through; order across a takeover does not. No new
// headers or subjects.
//
// # Reads, consistency and the fallback cache
//
// Chunks are read with batched direct gets ($JS.API.DIRECT.GET.<P>_CHUNKS, next_by_subj,
// batch 256), records and other values with KV gets. In a cluster a direct get may be
// answered by a replica that has not applied the latest writes yet; Load then misses a listed
// chunk and reads again (up to 10 times). While NATS is disconnected, or a read fails for
// want of a quorum or a timely answer, Load returns the fallback cache's copy of the document
// if it has one: an LRU (Options.CacheBytes, 256 MiB by default, <0 disables) of each
// document's chunks as last loaded (or known empty), plus the chunks this Store appended and
// compacted since and the chunks its follows received from other nodes (acknowledged data
// only). Every other read fails with ErrUnavailable then. Reachable says whether JetStream
// answers now (connected, and an account info request returns within a second; the answer
// is reused for half a second): the session asks it before telling clients to resend.
//
// # Concurrency model
//
// Every method is safe for concurrent use. One owner per piece of mutable state: the
// committer goroutine owns the Append pipeline (requests, once taken, until it closes their
// done channel); the fallback cache and the record cache each have their own mutex; each
// follow's mutex is held while its f runs and guards its consumer, generation and next
// sequence (its restart goroutine takes it to swap consumers); the set of follows has its mutex. Compact, Delete
// and the other writes run on their caller's goroutine, ordered against other nodes only by
// the records' revision checks and the stream's sequence. Close stops accepting calls
// (ErrClosed), lets the committer finish the batch it has taken, answers the Appends still
// queued with ErrClosed, stops every follow and returns; it does not close the connection.
package jsstore
