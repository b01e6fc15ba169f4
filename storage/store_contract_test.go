package storage_test

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/storagetest"
)

var _ storagetest.Store = (*storage.Store)(nil)

// TestContract runs the store contract suite (what session relies on, and
// what a second backend must pass too) against the bbolt Store.
func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Backend {
		path := filepath.Join(t.TempDir(), "weft.db")
		return storagetest.Backend{
			Open: func() storagetest.Store {
				s, err := storage.Open(path, nil)
				if err != nil {
					t.Fatalf("Open(%s): %v", path, err)
				}
				return s
			},
			Corrupt: func(docID string) { flipFirstChunk(t, path, docID) },
		}
	})
}

// flipFirstChunk damages the payload of docID's first chunk in the closed
// file at path (the layout of doc.go: docs/<docID>/c/<seq>), so that its
// CRC-32C no longer matches.
func flipFirstChunk(t *testing.T, path, docID string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("raw open %s: %v", path, err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("docs")).Bucket([]byte(docID))
		k, v := b.Cursor().Seek([]byte("c/"))
		damaged := append([]byte(nil), v...)
		damaged[len(damaged)-1] ^= 0x40
		return b.Put(k, damaged)
	})
	if err != nil {
		t.Fatalf("raw update %s: %v", path, err)
	}
}
