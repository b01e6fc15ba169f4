package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

// record is a document's entry in <P>_DOCS (JSON): its metadata, the snapshot that covers
// every chunk up to SnapUpTo, and the incremental chunks after it. The chunk list is the
// truth: Load returns exactly these chunks, whatever else the subject still holds.
type record struct {
	Created  int64   `json:"c"`           // Unix nanoseconds
	Updated  int64   `json:"u"`           // Unix nanoseconds
	Changes  int     `json:"n"`           // as reported by callers
	LastSeq  uint64  `json:"l"`           // highest chunk sequence ever recorded (or SnapUpTo)
	Snap     string  `json:"s,omitempty"` // snapshot object name in <P>_SNAPSHOTS
	SnapUpTo uint64  `json:"t,omitempty"`
	SnapSize int64   `json:"z,omitempty"`
	Chunks   []entry `json:"i,omitempty"` // incrementals after SnapUpTo, in sequence order
}

// entry is one incremental chunk of a record.
type entry struct {
	Seq  uint64 `json:"q"`
	Size int64  `json:"b"`
	Obj  string `json:"o,omitempty"` // blob object name, for chunks above the max payload
}

func (r *record) meta(docID string) storage.DocMeta {
	m := storage.DocMeta{
		ID: docID, Created: time.Unix(0, r.Created).UTC(), Updated: time.Unix(0, r.Updated).UTC(),
		Size: r.SnapSize, Changes: r.Changes, Chunks: len(r.Chunks),
	}
	if r.Snap != "" {
		m.Chunks++
	}
	for _, e := range r.Chunks {
		m.Size += e.Size
	}
	return m
}

func (r *record) clone() *record {
	c := *r
	c.Chunks = slices.Clone(r.Chunks)
	return &c
}

// touch sets Updated to now (never earlier than before), and Created if unset.
func (r *record) touch() {
	now := time.Now().UnixNano()
	if now < r.Updated {
		now = r.Updated
	}
	r.Updated = now
	if r.Created == 0 {
		r.Created = now
	}
}

func decodeRecord(docID string, b []byte) (*record, error) {
	r := new(record)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%w: doc %s: record: %w", storage.ErrCorrupt, docID, err)
	}
	return r, nil
}

// getRecord reads docID's record and its revision; ErrNotFound if none.
func (s *Store) getRecord(ctx context.Context, docID string) (*record, uint64, error) {
	e, err := s.docs.Get(ctx, encode(docID))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		s.recs.drop(docID)
		return nil, 0, fmt.Errorf("%w: doc %s", storage.ErrNotFound, docID)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("jsstore: doc %s: record: %w", docID, unavailable(err))
	}
	r, err := decodeRecord(docID, e.Value())
	if err != nil {
		return nil, 0, err
	}
	s.recs.put(docID, r, e.Revision())
	return r, e.Revision(), nil
}

// putRecord writes r as docID's record if its revision is still rev (0: if it has none).
// On a conflict its error satisfies conflict.
func (s *Store) putRecord(ctx context.Context, docID string, r *record, rev uint64) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var nrev uint64
	if rev == 0 {
		nrev, err = s.docs.Create(ctx, encode(docID), b)
	} else {
		nrev, err = s.docs.Update(ctx, encode(docID), b, rev)
	}
	if err != nil {
		s.recs.drop(docID)
		return fmt.Errorf("jsstore: doc %s: record: %w", docID, unavailable(err))
	}
	s.recs.put(docID, r, nrev)
	return nil
}

// deleted reports whether docID has a live tombstone.
func (s *Store) deleted(ctx context.Context, docID string) error {
	_, err := s.tombs.Get(ctx, encode(docID))
	switch {
	case err == nil:
		return fmt.Errorf("%w: doc %s", storage.ErrDeleted, docID)
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		return nil
	default:
		return fmt.Errorf("jsstore: doc %s: tombstone: %w", docID, unavailable(err))
	}
}

// Meta returns docID's metadata, or storage.ErrNotFound.
func (s *Store) Meta(docID string) (storage.DocMeta, error) {
	if err := s.read(docID); err != nil {
		return storage.DocMeta{}, err
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	r, _, err := s.getRecord(ctx, docID)
	if err != nil {
		return storage.DocMeta{}, err
	}
	return r.meta(docID), nil
}

// Exists reports whether docID is stored.
func (s *Store) Exists(docID string) (bool, error) {
	_, err := s.Meta(docID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// List returns the metadata of up to limit documents whose ids sort after after, in byte
// order. It reads every record of <P>_DOCS: O(documents) per call.
func (s *Store) List(after string, limit int) ([]storage.DocMeta, error) {
	if s.isShut.Load() {
		return nil, storage.ErrClosed
	}
	if err := s.reachable(); err != nil {
		return nil, err
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	var out []storage.DocMeta
	err := watchAll(ctx, s.docs, ">", func(key string, v []byte) error {
		id, err := decode(key)
		if err != nil || id <= after {
			return err
		}
		r, err := decodeRecord(id, v)
		if err != nil {
			return err
		}
		out = append(out, r.meta(id))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: list: %w", unavailable(err))
	}
	slices.SortFunc(out, func(a, b storage.DocMeta) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// read checks a read's arguments and that NATS is reachable.
func (s *Store) read(docID string) error {
	if err := s.check(docID); err != nil {
		return err
	}
	return s.reachable()
}

// watchAll calls f with the current value of every live key of kv matching filter, in one
// pass of a watcher (one subscription, not one request per key).
func watchAll(ctx context.Context, kv jetstream.KeyValue, filter string, f func(key string, v []byte) error) error {
	w, err := kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("watcher stopped: %w", ctx.Err())
			}
			if e == nil {
				return nil // caught up
			}
			if err := f(e.Key(), e.Value()); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// recCache keeps the last record and revision seen of recently written documents, so that
// the committer can update a record without reading it first. Its mutex owns it.
type recCache struct {
	mu  sync.Mutex
	max int
	m   map[string]cachedRec
}

type cachedRec struct {
	r   *record
	rev uint64
}

func newRecCache(max int) *recCache { return &recCache{max: max, m: map[string]cachedRec{}} }

func (c *recCache) get(docID string) (*record, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[docID]
	if !ok {
		return nil, 0, false
	}
	return e.r.clone(), e.rev, true
}

func (c *recCache) put(docID string, r *record, rev uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[docID]; !ok && len(c.m) >= c.max {
		for k := range c.m { // drop any one
			delete(c.m, k)
			break
		}
	}
	c.m[docID] = cachedRec{r.clone(), rev}
}

func (c *recCache) drop(docID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, docID)
}

// conflict reports whether err is a revision check that failed: Create of a key that exists,
// or Update of a revision that is no longer the latest (replicated streams report the latter
// as ErrKeyRevisionMismatch, not ErrKeyExists).
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}
