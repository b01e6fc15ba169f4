package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// chunkPrefix starts the key of every chunk in a document bucket: "c/" + 8-byte big-endian seq.
var chunkPrefix = []byte("c/")

const chunkKeyLen = 10

func chunkKey(seq uint64) []byte {
	k := make([]byte, chunkKeyLen)
	copy(k, chunkPrefix)
	binary.BigEndian.PutUint64(k[2:], seq)
	return k
}

// chunkSeq returns the sequence number of a chunk key, or false if k is not one.
func chunkSeq(k []byte) (uint64, bool) {
	if len(k) != chunkKeyLen || !bytes.HasPrefix(k, chunkPrefix) {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[2:]), true
}

// Chunks is everything stored for one document, ready to be concatenated (snapshots first, then
// incrementals) and loaded with Automerge's loadIncremental. The slices are copies owned by
// the caller.
type Chunks struct {
	Snapshots    [][]byte // in key (sequence) order
	Incrementals [][]byte // in append (sequence) order
	LastSeq      uint64   // sequence number of the last chunk: pass it to Compact as upTo
	// SnapSeq, from a store shared by the nodes (jsstore): every chunk of the document's log up
	// to it is in Snapshots. Chunks after it may be missing from Incrementals (appended by
	// another node whose write is not complete yet), so a follower of the log starts after
	// SnapSeq, not LastSeq. 0 from the bbolt store.
	SnapSeq uint64
	Bytes   int64 // total payload size
}

// Load returns every chunk of docID, or ErrNotFound if it has none. A chunk that fails its
// checks makes Load fail with an error wrapping ErrCorrupt that names the document and key.
func (s *Store) Load(docID string) (Chunks, error) {
	if err := checkName("doc id", docID); err != nil {
		return Chunks{}, err
	}
	var out Chunks
	err := s.view(func(tx *bolt.Tx) error {
		b := docBucket(tx, docID)
		if b == nil {
			return fmt.Errorf("%w: doc %s", ErrNotFound, docID)
		}
		c := b.Cursor()
		n := 0
		for k, v := c.Seek(chunkPrefix); k != nil && bytes.HasPrefix(k, chunkPrefix); k, v = c.Next() {
			seq, ok := chunkSeq(k)
			if !ok || v == nil {
				return corruptError(docID, k, "malformed chunk key")
			}
			kind, p, err := decodeKind(docID, k, v, kindSnapshot, kindIncremental)
			if err != nil {
				return err
			}
			if len(p) == 0 {
				return corruptError(docID, k, "empty chunk")
			}
			if kind == kindSnapshot {
				out.Snapshots = append(out.Snapshots, p)
			} else {
				out.Incrementals = append(out.Incrementals, p)
			}
			out.LastSeq = seq
			out.Bytes += int64(len(p))
			n++
		}
		if n == 0 {
			return fmt.Errorf("%w: doc %s has no chunks", ErrNotFound, docID)
		}
		return nil
	})
	if err != nil {
		return Chunks{}, err
	}
	return out, nil
}

// Append durably appends one incremental chunk to docID (creating the document if needed) and
// returns its sequence number. It returns only after the transaction holding the chunk is
// committed and fsynced; writes from concurrent callers share that transaction (group commit).
// nChanges (the number of Automerge changes in chunk) is added to the document's change count.
// chunk is copied before Append returns. If ctx is done before the committer takes the write,
// Append returns ctx.Err() and nothing is written.
func (s *Store) Append(ctx context.Context, docID string, chunk []byte, nChanges int) (uint64, error) {
	if err := checkName("doc id", docID); err != nil {
		return 0, err
	}
	if err := checkPayload("chunk", chunk); err != nil {
		return 0, err
	}
	if nChanges < 0 {
		return 0, fmt.Errorf("%w: negative change count %d", ErrInvalid, nChanges)
	}
	val := encodeValue(kindIncremental, chunk)
	var seq uint64
	err := s.submit(ctx, &request{size: len(val), write: func(tx *bolt.Tx, now time.Time) error {
		b, err := tx.Bucket(bucketDocs).CreateBucketIfNotExists([]byte(docID))
		if err != nil {
			return fmt.Errorf("storage: append doc %s: %w", docID, err)
		}
		m, err := readMeta(b, docID)
		if err != nil {
			return err
		}
		if m.created == 0 {
			m.created = now.UnixNano()
		}
		if seq, err = b.NextSequence(); err != nil {
			return fmt.Errorf("storage: append doc %s: %w", docID, err)
		}
		if err := b.Put(chunkKey(seq), val); err != nil {
			return fmt.Errorf("storage: append doc %s: %w", docID, err)
		}
		m.updated = now.UnixNano()
		m.size += int64(len(chunk))
		m.changes += int64(nChanges)
		m.chunks++
		return writeMeta(b, docID, m)
	}})
	if err != nil {
		return 0, err
	}
	return seq, nil
}

// Compact replaces every chunk of docID with a sequence number <= upTo by snapshot, stored
// with sequence number upTo, in one transaction; chunks appended after upTo are kept. It sets
// the document's change count to totalChanges. upTo is normally Chunks.LastSeq of the Load the
// snapshot was built from; upTo 0 replaces nothing but an earlier upTo-0 snapshot and may create
// the document (an import). An upTo beyond the document's last sequence number is ErrInvalid.
func (s *Store) Compact(ctx context.Context, docID string, snapshot []byte, upTo uint64, totalChanges int) error {
	if err := checkName("doc id", docID); err != nil {
		return err
	}
	if err := checkPayload("snapshot", snapshot); err != nil {
		return err
	}
	if totalChanges < 0 {
		return fmt.Errorf("%w: negative change count %d", ErrInvalid, totalChanges)
	}
	val := encodeValue(kindSnapshot, snapshot)
	return s.submit(ctx, &request{
		size: len(val),
		check: func(tx *bolt.Tx) error {
			var last uint64
			if b := docBucket(tx, docID); b != nil {
				last = b.Sequence()
			}
			if upTo > last {
				return fmt.Errorf("%w: compact doc %s up to %d: last sequence number is %d", ErrInvalid, docID, upTo, last)
			}
			return nil
		},
		write: func(tx *bolt.Tx, now time.Time) error {
			return compact(tx, now, docID, val, upTo, int64(totalChanges))
		},
	})
}

func compact(tx *bolt.Tx, now time.Time, docID string, val []byte, upTo uint64, totalChanges int64) error {
	b, err := tx.Bucket(bucketDocs).CreateBucketIfNotExists([]byte(docID))
	if err != nil {
		return fmt.Errorf("storage: compact doc %s: %w", docID, err)
	}
	m, err := readMeta(b, docID)
	if err != nil {
		return err
	}
	if m.created == 0 {
		m.created = now.UnixNano()
	}
	// Collect first: deleting under a bbolt cursor skips keys.
	var old [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(chunkPrefix); k != nil && bytes.HasPrefix(k, chunkPrefix); k, _ = c.Next() {
		if seq, ok := chunkSeq(k); ok && seq > upTo {
			break
		}
		old = append(old, bytes.Clone(k))
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("storage: compact doc %s: %w", docID, err)
		}
	}
	if err := b.Put(chunkKey(upTo), val); err != nil {
		return fmt.Errorf("storage: compact doc %s: %w", docID, err)
	}
	// Recount from what is stored, so the metadata heals even if it had drifted.
	m.size, m.chunks = 0, 0
	for k, v := c.Seek(chunkPrefix); k != nil && bytes.HasPrefix(k, chunkPrefix); k, v = c.Next() {
		m.size += int64(max(len(v)-headerLen, 0))
		m.chunks++
	}
	m.updated = now.UnixNano()
	m.changes = totalChanges
	return writeMeta(b, docID, m)
}

func checkPayload(what string, p []byte) error {
	switch {
	case len(p) == 0:
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(p) > maxPayload:
		return fmt.Errorf("%w: %s of %d bytes is too large", ErrInvalid, what, len(p))
	}
	return nil
}
