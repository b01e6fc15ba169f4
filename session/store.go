package session

import (
	"context"

	"github.com/weft-dev/weft/storage"
)

// Store is what a Manager needs of durable storage, and all it uses of it:
// a document is an id, a list of opaque chunks (Automerge snapshots and
// incremental change chunks), the encoded sync states of peers that have a
// storage id, named versions and some metadata. [*storage.Store] (bbolt)
// implements it; Config.Store takes any implementation, and the contract
// suite in storage/storagetest is what each must pass.
//
// The data types ([storage.Chunks], [storage.DocMeta], [storage.Version])
// and the errors are package storage's, compared with errors.Is:
// [storage.ErrNotFound] (no such document, sync state or version),
// [storage.ErrExists] (a version name is taken), [storage.ErrInvalid]
// (an empty id, an empty chunk, a Compact range beyond the last sequence
// number), [storage.ErrCorrupt] (stored bytes failed their checks: never
// silent garbage) and [storage.ErrClosed] (the store is closed). The caller
// of NewManager opens the store and closes it after [Manager.Shutdown].
//
// Contract, for every implementation:
//   - All methods are safe for concurrent use; the Manager calls them from
//     every document goroutine at once. Reads see only committed writes.
//   - A write (Append, Compact, SaveSyncState, Delete, PutVersion) returns
//     only once it is durable: after a nil error it survives a crash of the
//     process or the machine. Persist-before-send (see the package comment)
//     rests on this. How writes become durable is the implementation's (the
//     bbolt store commits the writes of many documents in one transaction
//     and one fsync). A write refused for its own reasons (ErrNotFound,
//     ErrExists, ErrInvalid) changes nothing and does not fail others.
//   - If ctx is done before the write is taken, the write returns ctx.Err()
//     and nothing is written; once taken, it waits for its outcome.
//   - Byte slices passed in may be reused by the caller once the call
//     returns; slices returned are the caller's.
type Store interface {
	// StorageID is this node's storage id (automerge-repo's storageId): not
	// empty, and the same every time the same data is opened.
	StorageID() string

	// Load returns every chunk of docID: snapshots and incrementals, each
	// in sequence order (Automerge loads snapshots, then incrementals), and
	// the sequence number of the last chunk. ErrNotFound if it has none.
	Load(docID string) (storage.Chunks, error)

	// Append durably appends one incremental chunk holding nChanges
	// Automerge changes to docID, creating the document if needed, and
	// returns its sequence number: greater than that of every chunk stored
	// before it in this document's life.
	Append(ctx context.Context, docID string, chunk []byte, nChanges int) (uint64, error)

	// Compact durably and atomically replaces every chunk of docID with a
	// sequence number <= upTo by snapshot (stored at upTo): a reader sees
	// the chunks before or after, never a mix. Chunks appended after upTo
	// are kept. It sets the document's change count to totalChanges. upTo
	// is the LastSeq of the Load (or the sequence of the Append) the
	// snapshot includes; upTo 0 on a new document creates it.
	Compact(ctx context.Context, docID string, snapshot []byte, upTo uint64, totalChanges int) error

	// Meta returns docID's metadata, or ErrNotFound.
	Meta(docID string) (storage.DocMeta, error)

	// List returns the metadata of up to limit documents (no limit if
	// limit <= 0) whose ids sort after after, in byte order of their ids.
	List(after string, limit int) ([]storage.DocMeta, error)

	// Exists reports whether docID is stored.
	Exists(docID string) (bool, error)

	// Delete durably removes docID and everything stored with it (chunks,
	// metadata, sync states, versions), and nothing else; ErrNotFound if it
	// is not stored. A document stored again later starts empty.
	Delete(ctx context.Context, docID string) error

	// SaveSyncState durably stores the encoded sync state of docID with the
	// peer whose storage id is peerStorageID, replacing the previous one.
	// The document must exist (ErrNotFound otherwise).
	SaveSyncState(ctx context.Context, docID, peerStorageID string, state []byte) error

	// LoadSyncState returns the sync state of docID with peerStorageID, or
	// ErrNotFound.
	LoadSyncState(docID, peerStorageID string) ([]byte, error)

	// PutVersion durably stores a named version of docID: ErrNotFound if
	// the document is not stored, ErrExists if the name is taken (the
	// stored version is kept).
	PutVersion(ctx context.Context, docID string, v storage.Version) error

	// Versions returns docID's named versions, oldest (by Time) first;
	// ErrNotFound if the document is not stored.
	Versions(docID string) ([]storage.Version, error)

	// SetAside durably keeps a copy of a chunk of docID that does not
	// load, with the reason, for inspection. Neither Delete nor Compact
	// removes it.
	SetAside(ctx context.Context, docID string, chunk []byte, reason string) error

	// SetAsideChunks returns docID's set-aside chunks, oldest first (none
	// is not an error).
	SetAsideChunks(docID string) ([]storage.Aside, error)

	// SetAsideDocs returns the documents that have set-aside chunks.
	SetAsideDocs() ([]string, error)
}
