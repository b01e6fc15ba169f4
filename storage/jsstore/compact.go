package jsstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

// crashAfter, set by tests only, stops a compaction dead after the named step ("snapshot",
// "commit", "marker", "purge") when it returns true: what a process killed there leaves.
var crashAfter func(step string) bool

// errCrashed is a compaction's error when crashAfter stopped it.
var errCrashed = errors.New("jsstore: compaction stopped by a test crash")

func crashed(step string) bool { return crashAfter != nil && crashAfter(step) }

// Compact replaces every chunk of docID up to upTo by snapshot. The commit point is the
// revision-checked update of the document's record; see doc.go for the steps. It is
// CompactShared for a caller that holds whatever snapshot is stored (a single writer).
func (s *Store) Compact(ctx context.Context, docID string, snapshot []byte, upTo uint64, totalChanges int) error {
	return s.CompactShared(ctx, docID, snapshot, upTo, totalChanges, math.MaxUint64, "")
}

// CompactShared is Compact for one of several writers: known is the highest snapshot
// coverage (a Compacted sequence) the caller has merged or knows it holds, and heads (the
// snapshot's, as text) go in the compaction marker, so that followers can tell whether they
// hold everything it covers. It fails with storage.ErrStale if the stored snapshot covers
// more than known: the caller's snapshot could lack what that one holds (chunks purged before
// its follow received them).
func (s *Store) CompactShared(ctx context.Context, docID string, snapshot []byte, upTo uint64, totalChanges int, known uint64, heads string) error {
	if err := s.check(docID); err != nil {
		return err
	}
	if len(snapshot) == 0 || totalChanges < 0 {
		return fmt.Errorf("%w: doc %s: empty snapshot or negative change count", storage.ErrInvalid, docID)
	}
	wctx, cancel, err := s.beginWrite(ctx, docID)
	if err != nil {
		return err
	}
	defer cancel()
	r, rev, err := s.compactable(wctx, docID, upTo)
	if err != nil {
		return err
	}
	if r.SnapUpTo > known {
		return fmt.Errorf("%w: doc %s: the stored snapshot covers up to %d, the caller holds up to %d", storage.ErrStale, docID, r.SnapUpTo, known)
	}
	name := encode(docID) + "." + randomHex(10)
	if _, err := s.snapshots.PutBytes(wctx, name, snapshot); err != nil {
		return fmt.Errorf("jsstore: doc %s: snapshot: %w", docID, unavailable(err))
	}
	if crashed("snapshot") {
		return errCrashed
	}
	old, err := s.commitSnapshot(wctx, docID, r, rev, name, int64(len(snapshot)), upTo, totalChanges)
	if err != nil {
		_ = s.snapshots.Delete(wctx, name)
		return err
	}
	if crashed("commit") {
		return errCrashed
	}
	s.cache.compacted(docID, snapshot, upTo)
	// Committed: what follows only tells followers and frees space; a failure leaves garbage
	// that Load ignores and the next compaction or Delete removes.
	s.afterCompact(wctx, docID, upTo, heads, old)
	return nil
}

// compactable reads docID's record and checks that upTo is within it.
func (s *Store) compactable(ctx context.Context, docID string, upTo uint64) (*record, uint64, error) {
	r, rev, err := s.getRecord(ctx, docID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if upTo != 0 {
			return nil, 0, fmt.Errorf("%w: doc %s: compact up to %d of a new document", storage.ErrInvalid, docID, upTo)
		}
		if err := s.deleted(ctx, docID); err != nil {
			return nil, 0, err
		}
		return &record{}, 0, nil
	case err != nil:
		return nil, 0, err
	case upTo > r.LastSeq:
		return nil, 0, fmt.Errorf("%w: doc %s: compact up to %d beyond the last chunk %d", storage.ErrInvalid, docID, upTo, r.LastSeq)
	case upTo < r.SnapUpTo:
		// Also stale: a writer that had not received what the stored snapshot covers.
		return nil, 0, fmt.Errorf("%w: %w: doc %s: compact up to %d below the snapshot at %d", storage.ErrInvalid, storage.ErrStale, docID, upTo, r.SnapUpTo)
	}
	return r, rev, nil
}

// commitSnapshot points docID's record at the new snapshot. A conflict with appends (the
// snapshot pointer unchanged) is retried on the new record; a conflict with another
// compaction loses. It returns the record as it was before.
func (s *Store) commitSnapshot(ctx context.Context, docID string, r *record, rev uint64, name string, size int64, upTo uint64, changes int) (*record, error) {
	for range recordAttempts {
		old := r.clone()
		n := r.clone()
		n.Snap, n.SnapUpTo, n.SnapSize, n.Changes = name, upTo, size, changes
		n.LastSeq = max(n.LastSeq, upTo)
		n.Chunks = n.Chunks[:0]
		for _, e := range r.Chunks {
			if e.Seq > upTo {
				n.Chunks = append(n.Chunks, e)
			}
		}
		n.touch()
		err := s.putRecord(ctx, docID, n, rev)
		if err == nil {
			return old, nil
		}
		if !conflict(err) {
			return nil, err
		}
		nr, nrev, err := s.getRecord(ctx, docID)
		if err != nil {
			return nil, err
		}
		if nr.Snap != r.Snap {
			return nil, fmt.Errorf("%w: doc %s: another compaction committed first", storage.ErrInvalid, docID)
		}
		r, rev = nr, nrev
	}
	return nil, fmt.Errorf("jsstore: doc %s: record still contended: %w", docID, storage.ErrUnavailable)
}

// afterCompact publishes the compaction marker, then purges the subject up to upTo and
// deletes the replaced snapshot and the blobs of purged chunks.
func (s *Store) afterCompact(ctx context.Context, docID string, upTo uint64, heads string, old *record) {
	msg := nats.NewMsg(s.subject(docID))
	msg.Header.Set(hdrCompacted, strconv.FormatUint(upTo, 10))
	if heads != "" {
		msg.Header.Set(hdrHeads, heads)
	}
	msg.Header.Set(hdrWriter, s.writer)
	if _, err := s.js.PublishMsg(ctx, msg); err != nil {
		s.log.Warn("jsstore: compaction marker not published; chunks kept", "doc", docID, "err", err)
		return
	}
	if crashed("marker") {
		return
	}
	// Feeds (webhooks) may not have delivered every chunk the snapshot covers: a purged
	// message leaves a consumer's pending list unacknowledged and undelivered. Purge only
	// what every feed has acknowledged; a later compaction or Delete purges the rest.
	bound, ok := s.feedFloor(ctx)
	if !ok {
		return // a feed's position unknown: keep the chunks (Load ignores them)
	}
	bound = min(bound, upTo)
	// WithPurgeSequence(n) purges the subject's messages below n: bound+1 keeps later ones.
	if err := s.chunks.Purge(ctx, jetstream.WithPurgeSubject(s.subject(docID)), jetstream.WithPurgeSequence(bound+1)); err != nil {
		s.log.Warn("jsstore: purge after compaction", "doc", docID, "err", err)
	}
	if crashed("purge") {
		return
	}
	upTo = bound // the blobs of the chunks kept stay too
	if old.Snap != "" {
		if err := s.snapshots.Delete(ctx, old.Snap); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			s.log.Warn("jsstore: old snapshot not deleted", "doc", docID, "object", old.Snap, "err", err)
		}
	}
	for _, e := range old.Chunks {
		if e.Obj != "" && e.Seq <= upTo {
			_ = s.blobs.Delete(ctx, e.Obj)
		}
	}
}

// Delete removes docID and everything stored with it but its set-aside chunks, and leaves a
// tombstone for Options.TombstoneTTL.
func (s *Store) Delete(ctx context.Context, docID string) error {
	wctx, cancel, err := s.beginWrite(ctx, docID)
	if err != nil {
		return err
	}
	defer cancel()
	r, _, err := s.getRecord(wctx, docID)
	if err != nil {
		return err
	}
	key := encode(docID)
	if _, err := s.tombs.Put(wctx, key, []byte(s.writer)); err != nil {
		return fmt.Errorf("jsstore: doc %s: tombstone: %w", docID, unavailable(err))
	}
	msg := nats.NewMsg(s.subject(docID))
	msg.Header.Set(hdrDeleted, "1")
	msg.Header.Set(hdrWriter, s.writer)
	ack, err := s.js.PublishMsg(wctx, msg)
	if err != nil {
		return fmt.Errorf("jsstore: doc %s: delete marker: %w", docID, unavailable(err))
	}
	// Everything before the marker goes; the marker stays for lagging followers.
	if err := s.chunks.Purge(wctx, jetstream.WithPurgeSubject(s.subject(docID)), jetstream.WithPurgeSequence(ack.Sequence)); err != nil {
		return fmt.Errorf("jsstore: doc %s: purge: %w", docID, unavailable(err))
	}
	if err := s.docs.Purge(wctx, key); err != nil {
		return fmt.Errorf("jsstore: doc %s: record: %w", docID, unavailable(err))
	}
	s.recs.drop(docID)
	s.cache.drop(docID)
	s.removeRest(wctx, docID, r)
	return nil
}

// removeRest deletes a deleted document's sync states, versions and objects. The tombstone
// already makes them unreachable: failures are logged, not returned.
func (s *Store) removeRest(ctx context.Context, docID string, r *record) {
	for _, kv := range []jetstream.KeyValue{s.sync, s.versions} {
		err := watchAll(ctx, kv, encode(docID)+".*", func(key string, _ []byte) error {
			return kv.Purge(ctx, key)
		})
		if err != nil {
			s.log.Warn("jsstore: leftovers of a deleted document", "doc", docID, "err", err)
		}
	}
	if r.Snap != "" {
		_ = s.snapshots.Delete(ctx, r.Snap)
	}
	for _, e := range r.Chunks {
		if e.Obj != "" {
			_ = s.blobs.Delete(ctx, e.Obj)
		}
	}
}

// feedFloor is the sequence up to which every feed's consumer has acknowledged the log
// (math.MaxUint64 without feeds); false if a consumer could not be read.
func (s *Store) feedFloor(ctx context.Context) (uint64, bool) {
	floor := uint64(math.MaxUint64)
	names := s.chunks.ConsumerNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, feedConsumerPrefix) {
			continue
		}
		c, err := s.chunks.Consumer(ctx, name)
		if err != nil {
			s.log.Warn("jsstore: compaction: a feed's position", "consumer", name, "err", err)
			return 0, false
		}
		info := c.CachedInfo()
		floor = min(floor, info.AckFloor.Stream)
	}
	if err := names.Err(); err != nil {
		s.log.Warn("jsstore: compaction: listing feeds", "err", err)
		return 0, false
	}
	return floor, true
}
