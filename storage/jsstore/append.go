package jsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

const (
	maxBatch       = 1024
	metaWorkers    = 16
	recordAttempts = 20
)

// appendReq is one queued Append; the committer owns it once taken, and answers on done.
type appendReq struct {
	ctx     context.Context
	docID   string
	chunk   []byte
	changes int
	seq     uint64
	obj     string
	err     error
	done    chan struct{}
}

// Append durably appends one incremental chunk to docID and returns its stream sequence.
func (s *Store) Append(ctx context.Context, docID string, chunk []byte, nChanges int) (uint64, error) {
	if err := s.check(docID); err != nil {
		return 0, err
	}
	if len(chunk) == 0 || nChanges < 0 {
		return 0, fmt.Errorf("%w: doc %s: empty chunk or negative change count", storage.ErrInvalid, docID)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if err := s.reachable(); err != nil {
		return 0, fmt.Errorf("doc %s: %w", docID, err)
	}
	req := &appendReq{ctx: ctx, docID: docID, chunk: append([]byte(nil), chunk...), changes: nChanges, done: make(chan struct{})}
	select {
	case s.queue <- req:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.closed:
		return 0, storage.ErrClosed
	}
	select {
	case <-req.done:
	case <-s.stopped: // the committer is gone: req was answered, or never will be
		select {
		case <-req.done:
		default:
			return 0, storage.ErrClosed
		}
	}
	if req.err != nil {
		return 0, req.err
	}
	return req.seq, nil
}

// committer is the one goroutine that writes chunks: it takes every queued Append, publishes
// them all asynchronously, awaits their acknowledgements together, updates each document's
// record once, and wakes the waiters.
func (s *Store) committer() {
	defer s.wg.Done()
	for {
		var first *appendReq
		select {
		case first = <-s.queue:
		case <-s.closed:
			s.drain()
			return
		}
		batch := []*appendReq{first}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

// drain answers the Appends still queued at Close: they are not taken.
func (s *Store) drain() {
	for {
		select {
		case r := <-s.queue:
			r.err = storage.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

func (s *Store) commit(batch []*appendReq) {
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err // not taken: nothing written
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	s.refuseDeleted(live)
	s.publish(live)
	byDoc := map[string][]*appendReq{}
	var order []string
	for _, r := range live {
		if r.err != nil {
			continue
		}
		if _, ok := byDoc[r.docID]; !ok {
			order = append(order, r.docID)
		}
		byDoc[r.docID] = append(byDoc[r.docID], r)
	}
	sem := make(chan struct{}, metaWorkers)
	var wg sync.WaitGroup
	for _, doc := range order {
		rs := byDoc[doc]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			err := s.recordAppends(doc, rs)
			for _, r := range rs {
				r.err = err
			}
		})
	}
	wg.Wait()
	for _, r := range live {
		if r.err == nil {
			s.cache.appended(r.docID, r.seq, r.chunk)
		}
		close(r.done)
	}
}

// refuseDeleted fails, before anything is published, the requests for
// documents with a live tombstone, checked once per document this store
// knows no record of (a known record means a live document, unless it was
// deleted through another node since: then the record update refuses it,
// after the publish; readers ignore such a chunk).
func (s *Store) refuseDeleted(batch []*appendReq) {
	checked := map[string]error{}
	for _, r := range batch {
		if _, _, ok := s.recs.get(r.docID); ok {
			continue
		}
		err, ok := checked[r.docID]
		if !ok {
			ctx, cancel := s.readCtx()
			err = s.deleted(ctx, r.docID)
			cancel()
			checked[r.docID] = err
		}
		if errors.Is(err, storage.ErrDeleted) {
			r.err = err
		}
	}
}

// publish publishes every request's chunk asynchronously and waits for the acknowledgements
// (at most PublishTimeout); it sets seq or err on each.
func (s *Store) publish(batch []*appendReq) {
	futures := make([]jetstream.PubAckFuture, len(batch))
	for i, r := range batch {
		if r.err != nil {
			continue
		}
		if err := s.reachable(); err != nil {
			r.err = fmt.Errorf("doc %s: %w", r.docID, err)
			continue
		}
		msg, err := s.chunkMsg(r)
		if err != nil {
			r.err = err
			continue
		}
		f, err := s.js.PublishMsgAsync(msg, jetstream.WithMsgID(msg.Header.Get(jetstream.MsgIDHeader)))
		if err != nil {
			r.err = fmt.Errorf("jsstore: doc %s: publish: %w", r.docID, unavailable(err))
			continue
		}
		futures[i] = f
	}
	timeout := time.NewTimer(s.opts.PublishTimeout)
	defer timeout.Stop()
	for i, f := range futures {
		if f == nil {
			continue
		}
		r := batch[i]
		select {
		case ack := <-f.Ok():
			r.seq = ack.Sequence
		case err := <-f.Err():
			r.err = fmt.Errorf("jsstore: doc %s: publish: %w", r.docID, unavailable(err))
		case <-timeout.C:
			timeout.Reset(0) // every later one times out at once
			r.err = fmt.Errorf("jsstore: doc %s: no acknowledgement within %v: %w", r.docID, s.opts.PublishTimeout, storage.ErrUnavailable)
		}
	}
}

// chunkMsg builds r's message; a chunk above the max payload goes to the blob store first.
func (s *Store) chunkMsg(r *appendReq) (*nats.Msg, error) {
	id := s.writer + "-" + strconv.FormatUint(s.msgID.Add(1), 36)
	msg := nats.NewMsg(s.subject(r.docID))
	msg.Header.Set(hdrChanges, strconv.Itoa(r.changes))
	msg.Header.Set(hdrWriter, s.writer)
	msg.Header.Set(jetstream.MsgIDHeader, id)
	if len(r.chunk) <= s.maxChunk {
		msg.Data = r.chunk
		return msg, nil
	}
	r.obj = encode(r.docID) + "." + id
	ctx, cancel := context.WithTimeout(r.ctx, s.opts.PublishTimeout)
	defer cancel()
	if _, err := s.blobs.PutBytes(ctx, r.obj, r.chunk); err != nil {
		return nil, fmt.Errorf("jsstore: doc %s: large chunk: %w", r.docID, unavailable(err))
	}
	msg.Header.Set(hdrObject, r.obj)
	return msg, nil
}

// recordAppends adds the acknowledged chunks rs of one document to its record, with a
// revision check: on a conflict (another node wrote it) it reads the record and tries again.
// A document without a record is created unless it has a tombstone.
func (s *Store) recordAppends(docID string, rs []*appendReq) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.PublishTimeout)
	defer cancel()
	r, rev, ok := s.recs.get(docID)
	for range recordAttempts {
		if !ok {
			var err error
			r, rev, err = s.getRecord(ctx, docID)
			if errors.Is(err, storage.ErrNotFound) {
				if err := s.deleted(ctx, docID); err != nil {
					return err
				}
				r, rev = &record{}, 0
			} else if err != nil {
				return err
			}
		}
		for _, a := range rs {
			if a.seq <= r.SnapUpTo {
				continue // already covered by a snapshot someone committed meanwhile
			}
			r.Chunks = insertEntry(r.Chunks, entry{Seq: a.seq, Size: int64(len(a.chunk)), Obj: a.obj})
			r.Changes += a.changes
			r.LastSeq = max(r.LastSeq, a.seq)
		}
		r.touch()
		err := s.putRecord(ctx, docID, r, rev)
		if err == nil {
			return nil
		}
		if !conflict(err) {
			return err
		}
		ok = false // conflict: read it again
	}
	return fmt.Errorf("jsstore: doc %s: record still contended after %d attempts: %w", docID, recordAttempts, storage.ErrUnavailable)
}

// insertEntry adds e in sequence order (usually at the end), once.
func insertEntry(es []entry, e entry) []entry {
	i := len(es)
	for i > 0 && es[i-1].Seq >= e.Seq {
		if es[i-1].Seq == e.Seq {
			return es
		}
		i--
	}
	es = append(es, entry{})
	copy(es[i+1:], es[i:])
	es[i] = e
	return es
}
