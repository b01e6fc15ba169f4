package storage

import (
	"errors"
	"fmt"
	"os"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// OpenReadOnly opens an existing data file for reading only: for export,
// offline backup and inspection. bbolt takes a shared lock, so it fails
// with ErrLocked (after opts.Timeout) while a server holds the file, and a
// server cannot open the file while it is held. Reads work as on a Store
// from Open; every write returns ErrClosed. Close releases the file.
func OpenReadOnly(path string, opts *Options) (*Store, error) {
	o, err := options(path, opts)
	if err != nil {
		return nil, err
	}
	// bbolt would create a missing file even read-only; a typo must not.
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, ReadOnly: true})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked by another process or Store (waited %s): %w", ErrLocked, path, o.Timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	var id string
	err = db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || tx.Bucket(bucketDocs) == nil || tx.Bucket(bucketNode) == nil {
			return errors.New("not a weft data file (buckets missing)")
		}
		if f := meta.Get(keyFormat); len(f) != 1 || f[0] != formatVersion {
			return fmt.Errorf("unsupported storage format %x (this build reads %d)", f, formatVersion)
		}
		id = string(meta.Get(keyStorageID))
		return nil
	})
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
		closing:   true, // no committer: writes fail with ErrClosed
	}
	s.cond = sync.NewCond(&s.mu)
	close(s.done)
	return s, nil
}

// Concat returns the document's chunks as one Automerge file: snapshots,
// then incrementals, the order Automerge loads them in.
func (c Chunks) Concat() []byte {
	out := make([]byte, 0, c.Bytes)
	for _, b := range c.Snapshots {
		out = append(out, b...)
	}
	for _, b := range c.Incrementals {
		out = append(out, b...)
	}
	return out
}
