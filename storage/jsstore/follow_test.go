package jsstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/jsstore"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
)

// collector gathers what a Follow delivers.
type collector struct {
	mu  sync.Mutex
	got []storage.Logged
}

func (c *collector) add(l storage.Logged) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, l)
}

// wait waits until n entries arrived and returns them.
func (c *collector) wait(t *testing.T, n int) []storage.Logged {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := slices.Clone(c.got)
		c.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("follow delivered %d entries, want %d: %+v", len(c.got), n, c.got)
	return nil
}

func follow(t *testing.T, s *jsstore.Store, doc string, after uint64) *collector {
	t.Helper()
	c := &collector{}
	stop, err := s.Follow(doc, after, c.add)
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	t.Cleanup(stop)
	return c
}

func mustAppend(t testing.TB, s *jsstore.Store, doc, chunk string, n int) uint64 {
	t.Helper()
	seq, err := s.Append(t.Context(), doc, []byte(chunk), n)
	if err != nil {
		t.Fatalf("Append(%s, %q): %v", doc, chunk, err)
	}
	return seq
}

// Two stores on one server: B follows a document both write; it gets every chunk in order,
// Own only for its own, then the compaction and delete markers.
func TestFollowOrderOwnMarkers(t *testing.T) {
	srv := jstest.RunServer(t, "")
	a := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
	b := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
	if a.StorageID() != b.StorageID() {
		t.Errorf("storage ids differ: %s, %s", a.StorageID(), b.StorageID())
	}
	c := follow(t, b, "doc", 0)
	s1 := mustAppend(t, a, "doc", "a1", 1)
	s2 := mustAppend(t, b, "doc", "b1", 2)
	s3 := mustAppend(t, a, "doc", "a2", 3)
	if err := a.Compact(t.Context(), "doc", []byte("snap"), s3, 6); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(t.Context(), "doc"); err != nil {
		t.Fatal(err)
	}
	got := c.wait(t, 5)
	want := []storage.Logged{
		{Seq: s1, Chunk: []byte("a1"), Changes: 1},
		{Seq: s2, Chunk: []byte("b1"), Changes: 2, Own: true},
		{Seq: s3, Chunk: []byte("a2"), Changes: 3},
	}
	for i, w := range want {
		g := got[i]
		if g.Seq != w.Seq || !bytes.Equal(g.Chunk, w.Chunk) || g.Changes != w.Changes || g.Own != w.Own || g.Compacted != 0 || g.Deleted {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
	if g := got[3]; g.Compacted != s3 || g.Chunk != nil || g.Seq <= s3 {
		t.Errorf("entry 3 = %+v, want the compaction marker up to %d", g, s3)
	}
	if g := got[4]; !g.Deleted || g.Seq <= got[3].Seq {
		t.Errorf("entry 4 = %+v, want the delete marker", g)
	}
	_, err := b.Append(t.Context(), "doc", []byte("again"), 1)
	if !errors.Is(err, storage.ErrDeleted) {
		t.Errorf("Append through the other store after Delete: %v, want ErrDeleted", err)
	}
}

// A follower that starts after a compaction purged the chunks it lacks gets the marker, and
// Snapshot gives it what the marker covers.
func TestFollowLaggingCompaction(t *testing.T) {
	srv := jstest.RunServer(t, "")
	s := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
	for i := range 3 {
		mustAppend(t, s, "doc", fmt.Sprint("c", i), 1)
	}
	upTo := mustAppend(t, s, "doc", "c3", 1)
	last := mustAppend(t, s, "doc", "c4", 1)
	if err := s.Compact(t.Context(), "doc", []byte("snap"), upTo, 4); err != nil {
		t.Fatal(err)
	}
	got := follow(t, s, "doc", 1).wait(t, 2)
	if got[0].Seq != last || string(got[0].Chunk) != "c4" || !got[0].Own {
		t.Errorf("first entry %+v, want the chunk kept after the compaction (seq %d)", got[0], last)
	}
	if got[1].Compacted != upTo {
		t.Errorf("second entry %+v, want Compacted %d", got[1], upTo)
	}
	snap, at, err := s.Snapshot("doc")
	if err != nil || string(snap) != "snap" || at != upTo {
		t.Errorf("Snapshot = %q, %d, %v; want snap, %d", snap, at, err, upTo)
	}
	if _, _, err := s.Snapshot("other"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Snapshot of an unknown doc: %v", err)
	}
}

// A follow survives a restart of the server (same store dir and port): nothing lost, nothing
// twice.
func TestFollowServerRestart(t *testing.T) {
	dir := jstest.StoreDir(t)
	srv := jstest.RunServer(t, dir)
	port := jstest.Port(srv)
	s := open(t, connect(t, srv.ClientURL()), jsstore.Options{PublishTimeout: 2 * time.Second})
	c := follow(t, s, "doc", 0)
	var seqs []uint64
	for i := range 5 {
		seqs = append(seqs, mustAppend(t, s, "doc", fmt.Sprint("before-", i), 1))
	}
	c.wait(t, 5)
	srv.Shutdown()
	srv.WaitForShutdown()
	jstest.RunServerAt(t, dir, port)
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; i < 5; {
		seq, err := s.Append(t.Context(), "doc", fmt.Appendf(nil, "after-%d", i), 1)
		if err != nil {
			if !errors.Is(err, storage.ErrUnavailable) || time.Now().After(deadline) {
				t.Fatalf("Append after restart: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		seqs = append(seqs, seq)
		i++
	}
	got := c.wait(t, 10)
	time.Sleep(200 * time.Millisecond) // would a duplicate come?
	got = c.wait(t, 10)
	if len(got) != 10 {
		t.Fatalf("follow delivered %d entries, want 10: %+v", len(got), got)
	}
	for i, g := range got {
		if g.Seq != seqs[i] {
			t.Errorf("entry %d seq %d, want %d", i, g.Seq, seqs[i])
		}
	}
}

// Close stops every follow: f is not called after Close returns, and stop still works.
func TestCloseStopsFollows(t *testing.T) {
	srv := jstest.RunServer(t, "")
	nc := connect(t, srv.ClientURL())
	s, err := jsstore.Open(t.Context(), nc, jsstore.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	stop, err := s.Follow("doc", 0, c.add)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "doc", "one", 1)
	c.wait(t, 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	other := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
	mustAppend(t, other, "doc", "two", 1)
	time.Sleep(200 * time.Millisecond)
	if got := c.wait(t, 1); len(got) != 1 {
		t.Errorf("follow delivered %d entries after Close", len(got))
	}
	stop()
	if _, err := s.Follow("doc", 0, c.add); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Follow after Close: %v", err)
	}
}
