package jsstore_test

import (
	"errors"
	"testing"

	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/jsstore"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
)

// Of two writers, the one that does not hold the stored snapshot's coverage cannot replace it
// (its snapshot could lack what the chunks purged before it read them held); once it says it
// holds it, it can. Followers get the snapshot's heads and whether the marker is their own.
func TestCompactSharedRefusesStaleSnapshots(t *testing.T) {
	srv := jstest.RunServer(t, "")
	a := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
	b := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
	c := follow(t, b, "doc", 0)
	mustAppend(t, a, "doc", "a1", 1)
	s2 := mustAppend(t, b, "doc", "b1", 1)
	if err := a.CompactShared(t.Context(), "doc", []byte("snap-a"), s2, 2, 0, "h1,h2"); err != nil {
		t.Fatalf("first compaction: %v", err)
	}
	s3 := mustAppend(t, a, "doc", "a2", 1)
	err := b.CompactShared(t.Context(), "doc", []byte("snap-b"), s3, 3, s2-1, "h3")
	if !errors.Is(err, storage.ErrStale) {
		t.Fatalf("compaction by a writer holding less than the stored snapshot: %v, want ErrStale", err)
	}
	if got, err := b.Load("doc"); err != nil || string(got.Snapshots[0]) != "snap-a" || got.SnapSeq != s2 {
		t.Fatalf("after the refused compaction: %+v, %v; want a's snapshot", got, err)
	}
	if err := b.CompactShared(t.Context(), "doc", []byte("snap-b"), s3, 3, s2, "h3"); err != nil {
		t.Fatalf("compaction by a writer holding the stored snapshot: %v", err)
	}
	got := c.wait(t, 5)
	if m := got[2]; m.Compacted != s2 || m.Heads != "h1,h2" || m.Own {
		t.Errorf("a's marker at b = %+v, want Compacted %d, heads h1,h2, not own", m, s2)
	}
	if m := got[4]; m.Compacted != s3 || m.Heads != "h3" || !m.Own {
		t.Errorf("b's marker at b = %+v, want Compacted %d, heads h3, own", m, s3)
	}
}
