package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/weft-dev/weft/storage/testwait"
)

// TestGroupCommitBatches appends from many goroutines at once and checks that the writes share
// transactions. It asserts no timing: only that there were fewer commits than writes.
func TestGroupCommitBatches(t *testing.T) {
	var mu sync.Mutex
	var hooked, hookCalls int
	s, _ := newTestStore(t, &Options{OnCommit: func(n int, d time.Duration) {
		mu.Lock()
		hooked += n
		hookCalls++
		mu.Unlock()
	}})
	const goroutines, perGoroutine = 32, 20
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			doc := fmt.Sprintf("doc-%02d", g%8) // several goroutines per document, several documents
			for i := range perGoroutine {
				if _, err := s.Append(t.Context(), doc, fmt.Appendf(nil, "g%d-%d", g, i), 1); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	const writes = goroutines * perGoroutine
	st := s.Stats()
	t.Logf("%d writes in %d commits (%.1f writes/commit)", st.BatchedWrites, st.Commits, float64(st.BatchedWrites)/float64(st.Commits))
	if st.BatchedWrites != writes {
		t.Errorf("BatchedWrites = %d, want %d", st.BatchedWrites, writes)
	}
	if st.Commits >= writes {
		t.Errorf("Commits = %d for %d concurrent writes: no group commit", st.Commits, writes)
	}
	// OnCommit runs after the writers are woken: wait for the last call.
	testwait.Until(t, testwait.Timeout, "OnCommit calls", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return uint64(hookCalls) == st.Commits
	})
	mu.Lock()
	if hooked != writes {
		t.Errorf("OnCommit saw %d writes in %d calls; Stats says %d in %d", hooked, hookCalls, st.BatchedWrites, st.Commits)
	}
	mu.Unlock()
	var total int
	for d := range 8 {
		c := mustLoad(t, s, fmt.Sprintf("doc-%02d", d))
		total += len(c.Incrementals)
		if c.LastSeq != uint64(len(c.Incrementals)) {
			t.Errorf("doc-%02d: LastSeq %d with %d chunks: sequence numbers not dense", d, c.LastSeq, len(c.Incrementals))
		}
	}
	if total != writes {
		t.Errorf("stored %d chunks, want %d", total, writes)
	}
}

// TestGroupCommitTakesEverythingQueued holds the committer in a commit, queues writes for many
// documents behind it, and checks that they all go into the next single transaction.
func TestGroupCommitTakesEverythingQueued(t *testing.T) {
	s, gate := newGatedStore(t)
	ctx := t.Context()
	mustAppend(t, s, "doc-0", []byte("first"), 1)
	<-gate.entered

	const queued = 50
	errs := make(chan error, queued)
	for i := range queued {
		go func() {
			_, err := s.Append(ctx, fmt.Sprintf("doc-%d", i%10), []byte("x"), 1)
			errs <- err
		}()
	}
	testwait.Until(t, testwait.Timeout, "writes to queue", func() bool { return s.queueLen() == queued })
	gate.open()
	for range queued {
		if err := <-errs; err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	st := s.Stats()
	if st.Commits != 2 || st.LastBatch != queued || st.BatchedWrites != queued+1 {
		t.Errorf("Stats = %+v; want 2 commits, last batch %d, %d writes", st, queued, queued+1)
	}
	if st.CommitNanos == 0 {
		t.Error("CommitNanos = 0")
	}
}

var errBoom = errors.New("boom")

// TestBatchFailureIsolated queues writes that fail next to writes that succeed, in one batch.
func TestBatchFailureIsolated(t *testing.T) {
	s, gate := newGatedStore(t)
	ctx := t.Context()
	mustAppend(t, s, "doc", []byte("first"), 1)
	<-gate.entered

	type result struct {
		name string
		err  error
	}
	calls := []struct {
		name    string
		call    func() error
		wantErr error
	}{
		{"append a", func() error { _, err := s.Append(ctx, "a", []byte("x"), 1); return err }, nil},
		{"sync state of missing doc", func() error { return s.SaveSyncState(ctx, "missing", "p", []byte("s")) }, ErrNotFound},
		{"sync state of doc created in the batch", func() error { return s.SaveSyncState(ctx, "a", "p", []byte("s")) }, nil},
		{"compact beyond last seq", func() error { return s.Compact(ctx, "doc", []byte("s"), 9, 1) }, ErrInvalid},
		{"delete missing doc", func() error { return s.Delete(ctx, "missing") }, ErrNotFound},
		{"write that fails after writing", func() error {
			return s.submit(ctx, &request{write: func(tx *bolt.Tx, _ time.Time) error {
				if err := tx.Bucket(bucketNode).Put([]byte("partial"), []byte("x")); err != nil {
					return err
				}
				return errBoom
			}})
		}, errBoom},
		{"append doc", func() error { _, err := s.Append(ctx, "doc", []byte("y"), 1); return err }, nil},
	}
	results := make(chan result, len(calls))
	for i, c := range calls {
		go func() { results <- result{c.name, c.call()} }()
		// Queue in order, so the sync state for "a" comes after the append that creates "a".
		testwait.Until(t, testwait.Timeout, "write to queue", func() bool { return s.queueLen() == i+1 })
	}
	gate.open()
	got := map[string]error{}
	for range calls {
		r := <-results
		got[r.name] = r.err
	}
	for _, c := range calls {
		if err := got[c.name]; !errors.Is(err, c.wantErr) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.wantErr)
		}
	}
	if st := s.Stats(); st.Commits != 2 || st.LastBatch != 3 {
		t.Errorf("Stats = %+v; want 2 commits, the last with the 3 good writes", st)
	}
	if _, err := s.NodeMeta("partial"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the failed write's effect was committed: NodeMeta(partial) err = %v", err)
	}
	if c := mustLoad(t, s, "doc"); len(c.Incrementals) != 2 {
		t.Errorf("doc has %d chunks, want 2", len(c.Incrementals))
	}
	if st, err := s.LoadSyncState("a", "p"); err != nil || string(st) != "s" {
		t.Errorf("LoadSyncState(a) = %q, %v", st, err)
	}
}

func TestAppendContextCanceled(t *testing.T) {
	t.Run("before the call", func(t *testing.T) {
		s, _ := newTestStore(t, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.Append(ctx, "doc", []byte("x"), 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if _, err := s.Load("doc"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load after canceled Append: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("while queued", func(t *testing.T) {
		s, gate := newGatedStore(t)
		mustAppend(t, s, "doc", []byte("first"), 1)
		<-gate.entered
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := s.Append(ctx, "doc", []byte("canceled"), 1)
			errc <- err
		}()
		testwait.Until(t, testwait.Timeout, "write to queue", func() bool { return s.queueLen() == 1 })
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		gate.open()
		if seq := mustAppend(t, s, "doc", []byte("second"), 1); seq != 2 {
			t.Errorf("next Append got seq %d, want 2", seq)
		}
		if c := mustLoad(t, s, "doc"); !equalChunks(c.Incrementals, [][]byte{[]byte("first"), []byte("second")}) {
			t.Errorf("chunks %q: the canceled write was stored", byteStrings(c.Incrementals))
		}
	})
	t.Run("deadline", func(t *testing.T) {
		s, gate := newGatedStore(t)
		mustAppend(t, s, "doc", []byte("first"), 1)
		<-gate.entered
		ctx, cancel := context.WithTimeout(t.Context(), time.Millisecond)
		defer cancel()
		if _, err := s.Append(ctx, "doc", []byte("late"), 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
	})
}
