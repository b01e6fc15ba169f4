// Package storagetest is the contract test suite every implementation of
// weft's document store passes (like testing/fstest for file systems, or
// session/relaytest for relays): the bbolt store of package storage runs
// it from its tests, and a second backend (NATS JetStream) is to run the
// same [Run].
//
// The contract is session.Store's (session/store.go): the suite checks what
// the session layer relies on, through [Store], which mirrors
// session.Store's methods plus Close. This package imports storage for the
// data types and errors, and never session: session's tests assert that
// session.Store is a subset of [Store], so that the suite cannot miss a
// method session uses.
package storagetest

import (
	"context"
	"testing"

	"github.com/weft-dev/weft/storage"
)

// Store is the method set under test: session.Store's, and Close.
type Store interface {
	StorageID() string
	Load(docID string) (storage.Chunks, error)
	Append(ctx context.Context, docID string, chunk []byte, nChanges int) (uint64, error)
	Compact(ctx context.Context, docID string, snapshot []byte, upTo uint64, totalChanges int) error
	Meta(docID string) (storage.DocMeta, error)
	List(after string, limit int) ([]storage.DocMeta, error)
	Exists(docID string) (bool, error)
	Delete(ctx context.Context, docID string) error
	SaveSyncState(ctx context.Context, docID, peerStorageID string, state []byte) error
	LoadSyncState(docID, peerStorageID string) ([]byte, error)
	PutVersion(ctx context.Context, docID string, v storage.Version) error
	Versions(docID string) ([]storage.Version, error)
	SetAside(ctx context.Context, docID string, chunk []byte, reason string) error
	SetAsideChunks(docID string) ([]storage.Aside, error)
	SetAsideDocs() ([]string, error)

	// Close stops the store; every later call but StorageID and Close
	// fails with storage.ErrClosed. A second Close returns nil.
	Close() error
}

// Backend is one subtest's storage, empty when made.
type Backend struct {
	// Open opens the storage, failing the subtest if it cannot. Every call
	// opens the same data, as a restarted server would: the suite closes
	// the store it opened before it opens the next one, and closes the
	// last one itself.
	Open func() Store

	// Corrupt, if not nil, damages the stored bytes of one chunk of docID
	// (no store is open while it runs), so that loading docID must fail
	// with an error wrapping storage.ErrCorrupt. Nil skips that subtest.
	Corrupt func(docID string)

	// Tombstones is set for a backend that keeps a tombstone of every deleted document (a
	// shared store: JetStream), so that a deleted document cannot come back through another
	// node: the delete subtest then asserts that writes after Delete fail with
	// storage.ErrDeleted and the document stays gone, instead of re-creating it.
	Tombstones bool
}

// NewBackend makes the storage for one subtest. It registers its own
// cleanup (t.TempDir, t.Cleanup), which runs after the suite has closed
// the store.
type NewBackend func(t *testing.T) Backend

// Run runs the contract suite against the backend newBackend makes, one
// fresh backend per subtest.
func Run(t *testing.T, newBackend NewBackend) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"storage id is set and stable across reopen", testStorageID},
		{"appended chunks load back in order", testAppendLoad},
		{"byte slices are copied in and out", testCopies},
		{"unknown documents are not found", testNotFound},
		{"invalid arguments are refused", testInvalid},
		{"compaction replaces chunks up to upTo", testCompact},
		{"compaction from zero creates a document", testCompactFromZero},
		{"compaction is atomic for readers", testCompactAtomic},
		{"metadata follows appends and compactions", testMeta},
		{"list pages in id order", testList},
		{"sync states per document and peer", testSyncStates},
		{"named versions", testVersions},
		{"delete removes one document entirely", testDelete},
		{"everything survives close and reopen", testDurable},
		{"concurrent writers of many documents", testConcurrent},
		{"a done context writes nothing", testCanceled},
		{"closed store refuses calls", testClosed},
		{"corrupt chunk is a clear error", testCorrupt},
		{"set-aside chunks outlive delete and reopen", testSetAside},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, newBackend))
		})
	}
}

// env is one subtest's backend and the store open on it.
type env struct {
	t *testing.T
	b Backend
	s Store // nil while closed
}

func newEnv(t *testing.T, newBackend NewBackend) *env {
	t.Helper()
	e := &env{t: t, b: newBackend(t)}
	if e.b.Open == nil {
		t.Fatal("storagetest: Backend.Open is nil")
	}
	e.open()
	t.Cleanup(e.close) // before the backend's own cleanup (LIFO)
	return e
}

func (e *env) open() {
	e.t.Helper()
	if e.s = e.b.Open(); e.s == nil {
		e.t.Fatal("storagetest: Backend.Open returned nil")
	}
}

func (e *env) close() {
	e.t.Helper()
	if e.s == nil {
		return
	}
	if err := e.s.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	e.s = nil
}

// reopen closes the store and opens the same data again.
func (e *env) reopen() {
	e.t.Helper()
	e.close()
	e.open()
}
