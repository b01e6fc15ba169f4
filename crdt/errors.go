package crdt

import "errors"

// Errors returned by engines. Callers match them with errors.Is.
var (
	// ErrNotOpen: the document is not open in the engine; after a worker
	// restart every document it held reports this until it is reopened.
	ErrNotOpen = errors.New("crdt: document not open")
	// ErrCrashed: the worker process died while running this request. The
	// input of the request is the prime suspect.
	ErrCrashed = errors.New("crdt: worker crashed")
	// ErrCorrupt: stored or uploaded bytes are not a valid Automerge document.
	ErrCorrupt = errors.New("crdt: corrupt document")
	// ErrTooLarge: input over the configured size limit.
	ErrTooLarge = errors.New("crdt: input too large")
	// ErrClosed: the engine was shut down.
	ErrClosed = errors.New("crdt: engine closed")
)

// ErrBadEdit: an edit, view or history request does not fit the document
// (unknown path, wrong type, index out of range, unknown heads). Wrapped
// with the details; the document is unchanged.
var ErrBadEdit = errors.New("crdt: bad edit")

// ErrBadMessage is returned for sync messages that do not parse.
var ErrBadMessage = errors.New("crdt: malformed sync message")

// ErrInvalidID is returned for document ids that are not bs58check strings.
var ErrInvalidID = errors.New("crdt: invalid document id")

// ErrDamaged: the document holds a change that automerge-rs 0.5.0 applied
// but cannot write back as a document chunk that loads (it re-encodes the
// change's ops differently, so the rebuilt hashes do not match). The
// change chunks as received still load; a snapshot of them does not.
var ErrDamaged = errors.New("crdt: document cannot be saved as one snapshot")
