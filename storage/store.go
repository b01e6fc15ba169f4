package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// DefaultTimeout is how long Open waits for the file lock when Options.Timeout is zero.
const DefaultTimeout = 2 * time.Second

// formatVersion is the on-disk layout version written to meta/format (see doc.go).
const formatVersion = 1

// Bucket and key names of the on-disk layout (see doc.go).
var (
	bucketMeta   = []byte("meta")
	bucketNode   = []byte("node")
	bucketDocs   = []byte("docs")
	keyStorageID = []byte("storageId")
	keyFormat    = []byte("format")
)

// Options configures Open. A nil *Options means all defaults; Open copies it.
type Options struct {
	// Logger receives the Store's logs. Nil discards them.
	Logger *slog.Logger

	// NoSync disables fsync on commit (bbolt NoSync). A crash can then lose or corrupt
	// committed data: for benchmarks and throwaway tests only.
	NoSync bool

	// Timeout bounds the wait for the data file's lock, so that a second process gets a clear
	// ErrLocked instead of hanging. Zero means DefaultTimeout (2s); negative waits forever.
	Timeout time.Duration

	// OnCommit, if set, is called on the committer goroutine after every successful commit,
	// once its writers are woken, with the number of writes it held and the duration of the
	// commit (fsync included). It must return quickly (the next commit waits for it) and must
	// not call Close or the Store's write methods (they would wait for it: deadlock).
	OnCommit func(batch int, d time.Duration)
}

// Store is a bbolt-backed store of opaque per-document chunks, sync states and metadata.
// All methods are safe for concurrent use. See the package documentation.
type Store struct {
	db        *bolt.DB
	path      string
	opts      Options
	log       *slog.Logger
	storageID string

	// The write queue, guarded by mu; the committer goroutine waits on cond.
	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*request
	closing bool
	done    chan struct{} // closed when the committer goroutine exits

	closeOnce sync.Once
	closeErr  error

	commits      atomic.Uint64
	writes       atomic.Uint64
	lastBatch    atomic.Int64
	commitNanos  atomic.Uint64
	commitErrors atomic.Uint64
}

// options returns opts with defaults filled in, checking path.
func options(path string, opts *Options) (Options, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if path == "" {
		return o, fmt.Errorf("%w: empty path", ErrInvalid)
	}
	return o, nil
}

// Open opens the bbolt file at path, creating it and its parent directory if missing, and
// starts the committer goroutine. Close must be called to release the file.
func Open(path string, opts *Options) (*Store, error) {
	o, err := options(path, opts)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, NoSync: o.NoSync})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked by another process or Store (waited %s): %w", ErrLocked, path, o.Timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	id, err := initDB(db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	s := &Store{
		db:        db,
		path:      path,
		opts:      o,
		log:       o.Logger.With("path", path),
		storageID: id,
		done:      make(chan struct{}),
	}
	s.cond = sync.NewCond(&s.mu)
	go s.run()
	s.log.Info("storage opened", "storage_id", id, "no_sync", o.NoSync)
	return s, nil
}

// initDB creates the top-level buckets, checks the format version and returns the storage id,
// creating it on first use.
func initDB(db *bolt.DB) (string, error) {
	var id string
	err := db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketNode, bucketDocs} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		switch f := meta.Get(keyFormat); {
		case f == nil:
			if err := meta.Put(keyFormat, []byte{formatVersion}); err != nil {
				return err
			}
		case len(f) != 1 || f[0] != formatVersion:
			return fmt.Errorf("unsupported storage format %x (this build reads %d)", f, formatVersion)
		}
		if v := meta.Get(keyStorageID); v != nil {
			id = string(v)
			return nil
		}
		id = newUUID()
		return meta.Put(keyStorageID, []byte(id))
	})
	return id, err
}

// newUUID returns a random (version 4) UUID in its canonical string form.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails (crypto/rand)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Close stops accepting writes, waits until every write already queued is committed, stops
// the committer and closes the file. It is idempotent: later calls return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		s.cond.Broadcast()
		s.mu.Unlock()
		<-s.done
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("storage: close %s: %w", s.path, err)
		}
		s.log.Info("storage closed")
	})
	return s.closeErr
}

// StorageID returns this node's storage id: a UUID v4 created on the first Open of the file
// and stable across reopens. It works after Close.
func (s *Store) StorageID() string { return s.storageID }

// Path returns the path of the bbolt file.
func (s *Store) Path() string { return s.path }

// NodeMeta returns a copy of the node metadata value stored under key, or ErrNotFound.
func (s *Store) NodeMeta(key string) ([]byte, error) {
	if err := checkName("node meta key", key); err != nil {
		return nil, err
	}
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketNode).Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%w: node meta %q", ErrNotFound, key)
		}
		_, p, err := decodeKind("", []byte(key), v, kindNodeMeta)
		out = p
		return err
	})
	return out, err
}

// SetNodeMeta stores v (which may be empty) under key, through the committer.
func (s *Store) SetNodeMeta(key string, v []byte) error {
	if err := checkName("node meta key", key); err != nil {
		return err
	}
	if len(v) > maxPayload {
		return fmt.Errorf("%w: node meta %q: value of %d bytes is too large", ErrInvalid, key, len(v))
	}
	val := encodeValue(kindNodeMeta, v)
	return s.submit(context.Background(), &request{size: len(val), write: func(tx *bolt.Tx, _ time.Time) error {
		return tx.Bucket(bucketNode).Put([]byte(key), val)
	}})
}

// WriteTo writes a consistent copy of the whole database to w (bbolt Tx.WriteTo) without
// blocking writers. The copy is a valid bbolt file that Open accepts.
func (s *Store) WriteTo(w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	if err != nil && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("storage: backup: %w", err)
	}
	return n, err
}

// Check runs bbolt's consistency check on a read transaction and returns the first problem
// found, or nil. It reads every page of the file.
func (s *Store) Check() error {
	return s.view(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() { // drain: the checker goroutine blocks until read
			if first == nil {
				first = fmt.Errorf("storage: check %s: %w", s.path, err)
			}
		}
		return first
	})
}

// Stats are cumulative counters of the committer, for metrics.
type Stats struct {
	Commits       uint64 // successful bbolt write transactions (one fsync each)
	BatchedWrites uint64 // writes (Append, Compact, SaveSyncState, ...) in those commits
	LastBatch     int    // writes in the latest successful commit
	CommitNanos   uint64 // total time spent in bbolt Commit, fsync included
	CommitErrors  uint64 // failed commits (every write in the batch got the error)
}

// Stats returns a snapshot of the committer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Commits:       s.commits.Load(),
		BatchedWrites: s.writes.Load(),
		LastBatch:     int(s.lastBatch.Load()),
		CommitNanos:   s.commitNanos.Load(),
		CommitErrors:  s.commitErrors.Load(),
	}
}

// view runs fn in a read transaction; reads run concurrently with each other and with the
// committer.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	err := s.db.View(fn)
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// MaxIDLen is the maximum length in bytes of a document id, a peer storage id or a node
// metadata key.
const MaxIDLen = 128

// checkName validates a document id, a peer storage id or a node meta key.
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(name) > MaxIDLen:
		return fmt.Errorf("%w: %s of %d bytes is longer than %d", ErrInvalid, what, len(name), MaxIDLen)
	}
	return nil
}

// docBucket returns the bucket of docID, or nil.
func docBucket(tx *bolt.Tx, docID string) *bolt.Bucket {
	return tx.Bucket(bucketDocs).Bucket([]byte(docID))
}
