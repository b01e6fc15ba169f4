package jsstore_test

import (
	"errors"
	"fmt"
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

// A compaction that dies after any of its steps loses nothing: another Store loads either
// the old chunks or the new snapshot and the chunks after it, never a mix, and compacts
// again over what was left.
func TestCompactCrashAtEveryStep(t *testing.T) {
	for _, step := range []string{"snapshot", "commit", "marker", "purge"} {
		t.Run(step, func(t *testing.T) {
			srv := jstest.RunServer(t, "")
			a := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
			var seqs []uint64
			for i := 1; i <= 5; i++ {
				seqs = append(seqs, mustAppend(t, a, "doc", fmt.Sprint("c", i), 1))
			}
			fired := false
			restore := jsstore.SetCrashAfter(func(s string) bool {
				fired = fired || s == step
				return s == step
			})
			err := a.Compact(t.Context(), "doc", []byte("snap-1-3"), seqs[2], 3)
			restore()
			if !fired {
				t.Fatalf("the compaction never reached step %s", step)
			}
			if (step == "snapshot" || step == "commit") != errors.Is(err, jsstore.ErrCrashed) {
				t.Fatalf("Compact crashing after %s: %v", step, err)
			}
			_ = a.Close() // the dead writer

			b := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
			got, err := b.Load("doc")
			if err != nil {
				t.Fatal(err)
			}
			old := len(got.Snapshots) == 0 && chunksAre(got.Incrementals, "c1", "c2", "c3", "c4", "c5")
			compacted := len(got.Snapshots) == 1 && string(got.Snapshots[0]) == "snap-1-3" &&
				got.SnapSeq == seqs[2] && chunksAre(got.Incrementals, "c4", "c5")
			if old == compacted || old != (step == "snapshot") {
				t.Fatalf("after a crash after %s, Load = %+v", step, got)
			}
			s6 := mustAppend(t, b, "doc", "c6", 1)
			if err := b.Compact(t.Context(), "doc", []byte("snap-1-6"), s6, 6); err != nil {
				t.Fatalf("the next compaction: %v", err)
			}
			got, err = b.Load("doc")
			if err != nil || len(got.Snapshots) != 1 || string(got.Snapshots[0]) != "snap-1-6" || len(got.Incrementals) != 0 {
				t.Fatalf("after the next compaction: %+v, %v", got, err)
			}
		})
	}
}

func chunksAre(got [][]byte, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		if string(got[i]) != w {
			return false
		}
	}
	return true
}
