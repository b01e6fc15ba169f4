package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketAside holds chunks set aside for inspection: a nested bucket per
// document, keyed by 8-byte big-endian Unix nanoseconds. Deleting or
// compacting the document leaves them alone: bytes that failed to load are
// evidence, never dropped silently.
var bucketAside = []byte("aside")

const kindAside byte = 'a' // a set-aside chunk: reason length (uvarint) | reason | chunk

// Aside is a chunk set aside for inspection.
type Aside struct {
	At     time.Time
	Reason string
	Chunk  []byte
}

// SetAside stores a copy of chunk, with why it was set aside, under docID.
func (s *Store) SetAside(ctx context.Context, docID string, chunk []byte, reason string) error {
	if err := checkName("doc id", docID); err != nil {
		return err
	}
	p := binary.AppendUvarint(nil, uint64(len(reason)))
	p = append(append(p, reason...), chunk...)
	if err := checkPayload("set-aside chunk", p); err != nil {
		return err
	}
	val := encodeValue(kindAside, p)
	return s.submit(ctx, &request{
		size: len(val),
		write: func(tx *bolt.Tx, now time.Time) error {
			top, err := tx.CreateBucketIfNotExists(bucketAside)
			if err != nil {
				return fmt.Errorf("storage: set aside a chunk of doc %s: %w", docID, err)
			}
			b, err := top.CreateBucketIfNotExists([]byte(docID))
			if err != nil {
				return fmt.Errorf("storage: set aside a chunk of doc %s: %w", docID, err)
			}
			k := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
			for b.Get(k) != nil { // two in one commit
				binary.BigEndian.PutUint64(k, binary.BigEndian.Uint64(k)+1)
			}
			return b.Put(k, val)
		},
	})
}

// SetAsideChunks returns the chunks set aside for docID, oldest first.
func (s *Store) SetAsideChunks(docID string) ([]Aside, error) {
	if err := checkName("doc id", docID); err != nil {
		return nil, err
	}
	var out []Aside
	err := s.view(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketAside)
		if top == nil || top.Bucket([]byte(docID)) == nil {
			return nil
		}
		return top.Bucket([]byte(docID)).ForEach(func(k, v []byte) error {
			_, p, err := decodeKind(docID, k, v, kindAside)
			if err != nil {
				return err
			}
			n, w := binary.Uvarint(p)
			if w <= 0 || n > uint64(len(p)-w) || len(k) != 8 {
				return corruptError(docID, k, "malformed set-aside record")
			}
			reason := string(p[w : w+int(n)])
			out = append(out, Aside{
				At:     time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC(),
				Reason: reason,
				Chunk:  append([]byte(nil), p[w+int(n):]...),
			})
			return nil
		})
	})
	return out, err
}

// SetAsideDocs returns the ids of the documents with chunks set aside
// (one read of the aside bucket's keys, for a server starting up).
func (s *Store) SetAsideDocs() ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		top := tx.Bucket(bucketAside)
		if top == nil {
			return nil
		}
		return top.ForEachBucket(func(k []byte) error {
			out = append(out, string(k))
			return nil
		})
	})
	return out, err
}
