package storage

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

// TestMain fails the run if a goroutine outlives the tests: every Store must be closed, so
// that its committer goroutine has ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newTestStore opens a Store on a new file in a temporary directory; see openTestStore.
func newTestStore(tb testing.TB, opts *Options) (*Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "weft.db")
	return openTestStore(tb, path, opts), path
}

// openTestStore opens the Store at path. In tests (not benchmarks) bbolt runs in strict mode,
// checking the whole file after every commit. At cleanup the Store is closed and the file is
// re-opened read-only for a final bbolt consistency check (bbolt's btesting.MustCreateDB idea).
func openTestStore(tb testing.TB, path string, opts *Options) *Store {
	tb.Helper()
	s, err := Open(path, opts)
	if err != nil {
		tb.Fatalf("Open(%s): %v", path, err)
	}
	if _, ok := tb.(*testing.T); ok {
		s.db.StrictMode = true // set before any write; submit's lock orders it before every commit
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		checkFile(tb, path)
	})
	return s
}

// reopen closes s and opens its file again.
func reopen(tb testing.TB, s *Store, opts *Options) *Store {
	tb.Helper()
	if err := s.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
	return openTestStore(tb, s.Path(), opts)
}

// checkFile opens a closed store file read-only with bbolt and runs tx.Check.
func checkFile(tb testing.TB, path string) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		tb.Errorf("check: open %s: %v", path, err)
		return
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			tb.Errorf("check %s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		tb.Errorf("check %s: %v", path, err)
	}
}

// rawUpdate runs fn on the (closed) store file through a raw bbolt handle.
func rawUpdate(tb testing.TB, path string, fn func(tx *bolt.Tx) error) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		tb.Fatalf("raw open %s: %v", path, err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		tb.Fatalf("raw update %s: %v", path, err)
	}
}

// queueLen returns the number of writes queued for the committer.
func (s *Store) queueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// isClosing reports whether Close has begun.
func (s *Store) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// commitGate is an Options.OnCommit hook that holds the committer inside the first commit's
// hook until release is called, so tests can queue writes behind it deterministically.
type commitGate struct {
	n       int // committer goroutine only
	entered chan struct{}
	release chan struct{}
}

// newGatedStore opens a test Store whose committer blocks in its first commit's OnCommit hook
// until the gate is opened (at the latest at cleanup, before the Store is closed).
func newGatedStore(tb testing.TB) (*Store, *commitGate) {
	tb.Helper()
	g := &commitGate{entered: make(chan struct{}), release: make(chan struct{})}
	s, _ := newTestStore(tb, &Options{OnCommit: g.onCommit})
	tb.Cleanup(g.open) // runs before the Store's cleanup (LIFO), so Close cannot hang
	return s, g
}

func (g *commitGate) onCommit(int, time.Duration) {
	g.n++
	if g.n == 1 {
		close(g.entered)
		<-g.release
	}
}

// open releases the committer; it is idempotent.
func (g *commitGate) open() {
	select {
	case <-g.release:
	default:
		close(g.release)
	}
}

// mustAppend appends chunk to doc and returns its sequence number.
func mustAppend(tb testing.TB, s *Store, doc string, chunk []byte, n int) uint64 {
	tb.Helper()
	seq, err := s.Append(tb.Context(), doc, chunk, n)
	if err != nil {
		tb.Fatalf("Append(%s, %q): %v", doc, chunk, err)
	}
	return seq
}

// mustLoad loads doc.
func mustLoad(tb testing.TB, s *Store, doc string) Chunks {
	tb.Helper()
	c, err := s.Load(doc)
	if err != nil {
		tb.Fatalf("Load(%s): %v", doc, err)
	}
	return c
}

func equalChunks(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// byteStrings renders chunks for failure messages.
func byteStrings(cs [][]byte) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(c)
	}
	return out
}
