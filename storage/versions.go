package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketVersions is the nested bucket of a document that maps version
// names to named versions.
var bucketVersions = []byte("versions")

// Version is a named point in a document's history. The store keeps it as
// opaque fields: Heads is whatever the caller uses to name a version.
type Version struct {
	Name    string    `json:"name"`
	Heads   string    `json:"heads"`
	Time    time.Time `json:"time"`
	User    string    `json:"user,omitempty"`
	Message string    `json:"message,omitempty"`
}

// MaxVersionName bounds a version's name.
const MaxVersionName = 200

// PutVersion stores a named version of docID. It returns ErrNotFound if the
// document is not stored and ErrExists if the name is taken.
func (s *Store) PutVersion(ctx context.Context, docID string, v Version) error {
	if err := checkName("doc id", docID); err != nil {
		return err
	}
	if v.Name == "" || len(v.Name) > MaxVersionName {
		return fmt.Errorf("%w: version name of %d bytes (want 1 to %d)", ErrInvalid, len(v.Name), MaxVersionName)
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("storage: encode version: %w", err)
	}
	val := encodeValue(kindVersion, payload)
	return s.submit(ctx, &request{
		size: len(val),
		check: func(tx *bolt.Tx) error {
			b := docBucket(tx, docID)
			if b == nil {
				return fmt.Errorf("%w: doc %s", ErrNotFound, docID)
			}
			if vb := b.Bucket(bucketVersions); vb != nil && vb.Get([]byte(v.Name)) != nil {
				return fmt.Errorf("%w: version %q of doc %s", ErrExists, v.Name, docID)
			}
			return nil
		},
		write: func(tx *bolt.Tx, _ time.Time) error {
			b, err := docBucket(tx, docID).CreateBucketIfNotExists(bucketVersions)
			if err == nil {
				err = b.Put([]byte(v.Name), val)
			}
			if err != nil {
				return fmt.Errorf("storage: put version %q of doc %s: %w", v.Name, docID, err)
			}
			return nil
		},
	})
}

// Versions returns docID's named versions, oldest first.
func (s *Store) Versions(docID string) ([]Version, error) {
	if err := checkName("doc id", docID); err != nil {
		return nil, err
	}
	var out []Version
	err := s.view(func(tx *bolt.Tx) error {
		b := docBucket(tx, docID)
		if b == nil {
			return fmt.Errorf("%w: doc %s", ErrNotFound, docID)
		}
		vb := b.Bucket(bucketVersions)
		if vb == nil {
			return nil
		}
		return vb.ForEach(func(k, val []byte) error {
			_, p, err := decodeKind(docID, k, val, kindVersion)
			if err != nil {
				return err
			}
			var v Version
			if err := json.Unmarshal(p, &v); err != nil {
				return corruptError(docID, k, "version record: "+err.Error())
			}
			out = append(out, v)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Version) int { return a.Time.Compare(b.Time) })
	return out, nil
}
