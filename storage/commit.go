package storage

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Limits of one group commit. The committer takes every queued write up to these limits (and
// always at least one); the rest waits for the next transaction.
const (
	maxBatchWrites = 4096
	maxBatchBytes  = 64 << 20
)

// States of a request.
const (
	statePending  int32 = iota
	stateTaken          // the committer owns it; the caller waits for done
	stateCanceled       // the caller gave up before it was taken; the committer skips it
)

// request is one write queued for the committer.
type request struct {
	size int // framed bytes it writes, for batch limits

	// check, if set, validates the request against the transaction before write runs; an error
	// fails this request only, with nothing written. write applies the request; an error rolls
	// back the transaction, which is then retried without this request.
	check func(tx *bolt.Tx) error
	write func(tx *bolt.Tx, now time.Time) error

	state atomic.Int32
	done  chan struct{} // closed by the committer once err is set
	err   error
}

// submit queues r and waits until it is committed (fsynced) or failed. If ctx is done before
// the committer takes r, submit returns ctx.Err() and r is never applied; once r is taken, submit
// waits for its outcome. After Close has begun it returns ErrClosed.
func (s *Store) submit(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, r)
	s.cond.Signal()
	s.mu.Unlock()

	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		if r.state.CompareAndSwap(statePending, stateCanceled) {
			return ctx.Err()
		}
		<-r.done
		return r.err
	}
}

// run is the committer goroutine: it owns the write path. It takes what is queued, commits it
// in one transaction, wakes the waiters and repeats; after Close it drains the queue and exits.
func (s *Store) run() {
	defer close(s.done)
	var batch []*request
	for {
		var ok bool
		batch, ok = s.take(batch[:0])
		if !ok {
			return
		}
		s.commit(batch)
		clear(batch)
	}
}

// take blocks until there is work and appends the next batch to buf. It returns false when the
// Store is closing and the queue is empty.
func (s *Store) take(buf []*request) ([]*request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for len(s.queue) == 0 {
			if s.closing {
				return buf, false
			}
			s.cond.Wait()
		}
		size, i := 0, 0
		for ; i < len(s.queue); i++ {
			r := s.queue[i]
			if len(buf) > 0 && (len(buf) >= maxBatchWrites || size+r.size > maxBatchBytes) {
				break
			}
			if r.state.CompareAndSwap(statePending, stateTaken) {
				buf = append(buf, r)
				size += r.size
			}
		}
		n := copy(s.queue, s.queue[i:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		if len(buf) > 0 {
			return buf, true
		}
	}
}

// commit applies batch in one write transaction and commits it (one fsync). A request whose
// write fails is taken out and the transaction retried without it, so one bad request never
// fails the others.
func (s *Store) commit(batch []*request) {
	for len(batch) > 0 {
		tx, err := s.db.Begin(true)
		if err != nil {
			s.finish(batch, fmt.Errorf("storage: begin write: %w", err))
			return
		}
		now := time.Now().UTC()
		ok := batch[:0:0]
		bad := -1
		for i, r := range batch {
			if r.check != nil {
				if r.err = r.check(tx); r.err != nil {
					s.finish([]*request{r}, nil)
					continue
				}
			}
			if r.err = r.write(tx, now); r.err != nil {
				bad = i
				break
			}
			ok = append(ok, r)
		}
		if bad >= 0 {
			_ = tx.Rollback()
			r := batch[bad]
			s.log.Warn("storage write failed, retrying its batch without it", "err", r.err, "batch", len(batch))
			s.finish([]*request{r}, nil)
			// Requests that failed their check are finished already; retry the others.
			batch = slices.Concat(ok, batch[bad+1:])
			continue
		}
		if len(ok) == 0 {
			_ = tx.Rollback()
			return
		}
		start := time.Now()
		err = tx.Commit()
		d := time.Since(start)
		if err != nil {
			s.commitErrors.Add(1)
			s.log.Error("storage commit failed", "err", err, "batch", len(ok))
			s.finish(ok, fmt.Errorf("storage: commit: %w", err))
			return
		}
		s.commits.Add(1)
		s.writes.Add(uint64(len(ok)))
		s.lastBatch.Store(int64(len(ok)))
		s.commitNanos.Add(uint64(d))
		s.finish(ok, nil)
		if s.opts.OnCommit != nil {
			s.opts.OnCommit(len(ok), d)
		}
		return
	}
}

// finish sets err (if not nil) on every request of rs and wakes their callers.
func (s *Store) finish(rs []*request, err error) {
	for _, r := range rs {
		if err != nil {
			r.err = err
		}
		close(r.done)
	}
}
