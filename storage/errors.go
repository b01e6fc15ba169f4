package storage

import (
	"errors"
	"fmt"
)

// Errors returned by the Store. Compare with errors.Is: they are usually wrapped with the
// document id and key involved.
var (
	// ErrNotFound is returned when a document, sync state or node metadata key does not exist.
	ErrNotFound = errors.New("storage: not found")

	// ErrCorrupt is returned when a stored value fails its length or CRC-32C check, or cannot be
	// decoded. The message names the document and the key (in hex).
	ErrCorrupt = errors.New("storage: corrupt chunk")

	// ErrClosed is returned by every method (except StorageID, Path and Stats) after Close has begun.
	ErrClosed = errors.New("storage: closed")

	// ErrInvalid is returned for invalid arguments: an empty or too long document id, an empty
	// chunk, a negative change count, a Compact range beyond the last sequence number.
	ErrInvalid = errors.New("storage: invalid argument")

	// ErrExists is returned when a name is taken (named versions).
	ErrExists = errors.New("storage: already exists")

	// ErrLocked is returned by Open when another process (or another Store in this process)
	// holds the data file and the lock was not released within Options.Timeout.
	ErrLocked = errors.New("storage: data file in use")

	// ErrUnavailable is returned by a shared store (JetStream) that cannot reach a quorum of its
	// servers now: the write was not acknowledged, the read not answered. It may succeed later.
	ErrUnavailable = errors.New("storage: unavailable")

	// ErrDeleted is returned by a store that keeps tombstones (JetStream) for a write to a
	// document deleted while its tombstone lives: a deleted document cannot come back.
	ErrDeleted = errors.New("storage: document deleted")

	// ErrStale is returned by a shared store's compaction when the stored snapshot covers more
	// than the caller said it holds: its snapshot could lack changes the stored one has. Load
	// (and merge) the document, then compact again.
	ErrStale = errors.New("storage: a newer snapshot is stored")
)

// corruptError reports a value of document docID (empty for node-level values) under key that
// failed its checks.
func corruptError(docID string, key []byte, reason string) error {
	if docID == "" {
		return fmt.Errorf("%w: node key %x: %s", ErrCorrupt, key, reason)
	}
	return fmt.Errorf("%w: doc %s key %x: %s", ErrCorrupt, docID, key, reason)
}
