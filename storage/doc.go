// Package storage persists weft's documents in a single bbolt file.
//
// It knows bytes and bbolt, nothing of sessions, Automerge or networks: a document is an id
// and a list of opaque chunks (Automerge snapshot and incremental change chunks), plus the
// encoded sync states of peers that have a storage id, and some metadata. It imports no other
// weft package and no cgo.
//
// # Core types
//
// [Store] is the open file. [Store.Append] adds an incremental chunk, [Store.Load] returns
// every chunk of a document as [Chunks], [Store.Compact] folds chunks into one snapshot,
// [Store.SaveSyncState] and [Store.LoadSyncState] keep per-peer sync states, [Store.Meta] and
// [Store.List] describe documents as [DocMeta]. [Store.StorageID] is the node's own storage id.
//
// # The seam
//
// Package session does not depend on [Store] itself but on an interface it owns,
// session.Store (session/store.go): the methods it uses (Load, Append, Compact, Meta, List,
// Exists, Delete, SaveSyncState, LoadSyncState, PutVersion, Versions, StorageID), which
// [*Store] has with no adapter. Their contract is written there; the types ([Chunks],
// [DocMeta], [Version]) and errors ([ErrNotFound], [ErrExists], [ErrInvalid], [ErrCorrupt],
// [ErrClosed]) stay here, so the import arrow runs session → storage only. Package
// storage/storagetest is the contract suite for that interface (it imports storage, never
// session): storage's TestContract runs it against this Store, and a second backend (NATS
// JetStream) must pass it too. What the rest of this comment describes (bbolt layout, group
// commit, NodeMeta, WriteTo, Check, Stats, OpenReadOnly) is this implementation's; cmd/weft
// uses those directly.
//
// # On-disk layout (format 1)
//
//	meta/                         bucket
//	  storageId                   the node's storage id, a UUID v4 string (automerge-repo's "storage-adapter-id")
//	  format                      one byte: the layout version, 1
//	node/                         bucket: node metadata, key -> framed value (kind 'n')
//	docs/                         bucket
//	  <docID>/                    one bucket per document; its bbolt sequence numbers the chunks
//	    c/<seq>                   a chunk; <seq> is 8 bytes big-endian; framed value, kind 's' or 'i'
//	    m                         metadata (created, updated, size, changes, chunks); framed value, kind 'm'
//	    sync/                     bucket: peer storage id -> sync state; framed value, kind 'y'
//
// Every value except those in meta/ is framed as kind (1 byte), payload length (uint32 BE),
// CRC-32C Castagnoli (uint32 BE, over kind, length and payload), payload. A value that fails
// these checks makes the read fail with an error wrapping [ErrCorrupt] that names the document
// and the key, never a panic and never silent garbage.
//
// Chunk sequence numbers are per document and increase monotonically (bbolt NextSequence);
// Delete removes the bucket, so a re-created document starts again at 1. Append writes an
// incremental chunk ('i') at the next sequence number. Compact(upTo) deletes every chunk with
// sequence <= upTo and writes the snapshot ('s') at c/<upTo>, so chunks appended after upTo
// keep their place after it. Load returns snapshots and incrementals separately, each in key
// order; Automerge loads snapshots then incrementals (automerge-repo's loadDoc order). This
// follows automerge-repo's storage rules (PROTOCOL.md §7), with sequence numbers instead of
// content hashes as keys: weft has a single writer per document, so it needs no
// content-addressing to merge concurrent writers.
//
// # Concurrency model
//
// All methods are safe for concurrent use. One committer goroutine, started by Open and waited
// for by Close, owns the write path: Append, Compact, SaveSyncState, Delete and SetNodeMeta
// queue a request and wait for it. Reads (Load, Meta, List, Exists, LoadSyncState, NodeMeta,
// WriteTo, Check) run in bbolt read transactions, concurrently with each other and with the
// committer, and see only committed data.
//
// # Group commit and durability
//
// The committer takes every queued write (up to 4096 writes or 64 MiB), applies them in order
// in one bbolt transaction, commits it (one fsync), wakes every waiter, and repeats. There is no
// artificial delay: a lone write is committed at once, and writes that arrive while a commit is
// in flight are batched into the next one. Append returns only after the transaction that holds
// its chunk is committed and fsynced, so a chunk whose Append returned nil survives kill -9 and
// power loss (unless Options.NoSync is set). A write that fails (an unknown document for
// SaveSyncState, an invalid Compact range) fails alone; the rest of its batch is committed.
// If a commit itself fails, every write in it gets the error.
//
// A context that is done before the committer takes the write makes the call return ctx.Err()
// with nothing written; once taken, the call waits for the commit and returns its outcome.
//
// # Lifetime rules
//
// Byte slices passed in are copied before the call returns; byte slices returned are copies
// owned by the caller, valid after the call and after Close (unlike bbolt's, which die with
// their transaction). Close stops accepting writes (later ones get [ErrClosed]), lets the
// committer finish every write already queued, waits for it and closes the file. Close is
// idempotent. bbolt locks the file: a second Open of the same file, from this or another
// process, fails with [ErrLocked] after Options.Timeout (2s by default).
package storage
