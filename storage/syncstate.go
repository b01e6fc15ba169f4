package storage

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketSync is the nested bucket of a document that maps peer storage ids to sync states.
var bucketSync = []byte("sync")

// SaveSyncState stores the encoded sync state of docID with the peer whose storage id is
// peerStorageID, replacing the previous one, through the committer (so it shares group commits
// with Append). The document must exist (ErrNotFound otherwise): a sync state never creates one.
func (s *Store) SaveSyncState(ctx context.Context, docID, peerStorageID string, state []byte) error {
	if err := checkName("doc id", docID); err != nil {
		return err
	}
	if err := checkName("peer storage id", peerStorageID); err != nil {
		return err
	}
	if err := checkPayload("sync state", state); err != nil {
		return err
	}
	val := encodeValue(kindSyncState, state)
	return s.submit(ctx, &request{
		size: len(val),
		check: func(tx *bolt.Tx) error {
			if docBucket(tx, docID) == nil {
				return fmt.Errorf("%w: doc %s", ErrNotFound, docID)
			}
			return nil
		},
		write: func(tx *bolt.Tx, _ time.Time) error {
			b, err := docBucket(tx, docID).CreateBucketIfNotExists(bucketSync)
			if err == nil {
				err = b.Put([]byte(peerStorageID), val)
			}
			if err != nil {
				return fmt.Errorf("storage: save sync state of doc %s peer %s: %w", docID, peerStorageID, err)
			}
			return nil
		},
	})
}

// LoadSyncState returns a copy of the sync state of docID with peerStorageID, or ErrNotFound.
func (s *Store) LoadSyncState(docID, peerStorageID string) ([]byte, error) {
	if err := checkName("doc id", docID); err != nil {
		return nil, err
	}
	if err := checkName("peer storage id", peerStorageID); err != nil {
		return nil, err
	}
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		var v []byte
		if b := docBucket(tx, docID); b != nil {
			if sb := b.Bucket(bucketSync); sb != nil {
				v = sb.Get([]byte(peerStorageID))
			}
		}
		if v == nil {
			return fmt.Errorf("%w: sync state of doc %s peer %s", ErrNotFound, docID, peerStorageID)
		}
		_, p, err := decodeKind(docID, []byte(peerStorageID), v, kindSyncState)
		out = p
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
