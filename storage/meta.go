package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// keyMeta holds a document's metadata record in its bucket.
var keyMeta = []byte("m")

const metaLen = 5 * 8

// DocMeta describes a stored document.
type DocMeta struct {
	ID      string
	Created time.Time // first Append or Compact (UTC)
	Updated time.Time // latest Append or Compact (UTC)
	Size    int64     // total stored chunk payload bytes (sync states not included)
	Changes int       // number of Automerge changes stored, as reported by callers
	Chunks  int       // number of stored chunks
}

// metaRecord is the stored form of DocMeta: five big-endian int64s, framed like every value.
// A zero record (created == 0) means the document has no metadata yet.
type metaRecord struct {
	created, updated int64 // Unix nanoseconds
	size, changes    int64
	chunks           int64
}

func readMeta(b *bolt.Bucket, docID string) (metaRecord, error) {
	v := b.Get(keyMeta)
	if v == nil {
		return metaRecord{}, nil
	}
	_, p, err := decodeKind(docID, keyMeta, v, kindDocMeta)
	if err != nil {
		return metaRecord{}, err
	}
	if len(p) != metaLen {
		return metaRecord{}, corruptError(docID, keyMeta, fmt.Sprintf("metadata of %d bytes, want %d", len(p), metaLen))
	}
	return metaRecord{
		created: int64(binary.BigEndian.Uint64(p[0:])),
		updated: int64(binary.BigEndian.Uint64(p[8:])),
		size:    int64(binary.BigEndian.Uint64(p[16:])),
		changes: int64(binary.BigEndian.Uint64(p[24:])),
		chunks:  int64(binary.BigEndian.Uint64(p[32:])),
	}, nil
}

func writeMeta(b *bolt.Bucket, docID string, m metaRecord) error {
	var p [metaLen]byte
	binary.BigEndian.PutUint64(p[0:], uint64(m.created))
	binary.BigEndian.PutUint64(p[8:], uint64(m.updated))
	binary.BigEndian.PutUint64(p[16:], uint64(m.size))
	binary.BigEndian.PutUint64(p[24:], uint64(m.changes))
	binary.BigEndian.PutUint64(p[32:], uint64(m.chunks))
	if err := b.Put(keyMeta, encodeValue(kindDocMeta, p[:])); err != nil {
		return fmt.Errorf("storage: write metadata of doc %s: %w", docID, err)
	}
	return nil
}

// docMeta reads the metadata of the document in bucket b; a document without a record is corrupt.
func docMeta(b *bolt.Bucket, docID string) (DocMeta, error) {
	m, err := readMeta(b, docID)
	if err != nil {
		return DocMeta{}, err
	}
	if m.created == 0 {
		return DocMeta{}, corruptError(docID, keyMeta, "missing metadata")
	}
	return DocMeta{
		ID:      docID,
		Created: time.Unix(0, m.created).UTC(),
		Updated: time.Unix(0, m.updated).UTC(),
		Size:    m.size,
		Changes: int(m.changes),
		Chunks:  int(m.chunks),
	}, nil
}

// Meta returns the metadata of docID, or ErrNotFound.
func (s *Store) Meta(docID string) (DocMeta, error) {
	if err := checkName("doc id", docID); err != nil {
		return DocMeta{}, err
	}
	var out DocMeta
	err := s.view(func(tx *bolt.Tx) error {
		b := docBucket(tx, docID)
		if b == nil {
			return fmt.Errorf("%w: doc %s", ErrNotFound, docID)
		}
		var err error
		out, err = docMeta(b, docID)
		return err
	})
	return out, err
}

// List returns the metadata of up to limit documents whose ids sort after after (byte order),
// in id order. Pass the last id of a page as after to get the next page; "" starts at the
// beginning. limit <= 0 means no limit.
func (s *Store) List(after string, limit int) ([]DocMeta, error) {
	var out []DocMeta
	err := s.view(func(tx *bolt.Tx) error {
		docs := tx.Bucket(bucketDocs)
		c := docs.Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
		for ; k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			if v != nil {
				continue // not a document bucket
			}
			m, err := docMeta(docs.Bucket(k), string(k))
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Exists reports whether docID is stored.
func (s *Store) Exists(docID string) (bool, error) {
	if err := checkName("doc id", docID); err != nil {
		return false, err
	}
	var ok bool
	err := s.view(func(tx *bolt.Tx) error {
		ok = docBucket(tx, docID) != nil
		return nil
	})
	return ok, err
}

// Delete removes docID: its chunks, sync states and metadata, through the committer. It
// returns ErrNotFound if the document is not stored. A later Append starts again at sequence 1.
func (s *Store) Delete(ctx context.Context, docID string) error {
	if err := checkName("doc id", docID); err != nil {
		return err
	}
	return s.submit(ctx, &request{
		check: func(tx *bolt.Tx) error {
			if docBucket(tx, docID) == nil {
				return fmt.Errorf("%w: doc %s", ErrNotFound, docID)
			}
			return nil
		},
		write: func(tx *bolt.Tx, _ time.Time) error {
			if err := tx.Bucket(bucketDocs).DeleteBucket([]byte(docID)); err != nil {
				return fmt.Errorf("storage: delete doc %s: %w", docID, err)
			}
			return nil
		},
	})
}
