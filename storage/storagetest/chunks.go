package storagetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weft-dev/weft/storage"
)

func testStorageID(t *testing.T, e *env) {
	id := e.s.StorageID()
	if id == "" {
		t.Fatal("StorageID is empty")
	}
	if got := e.s.StorageID(); got != id {
		t.Errorf("StorageID changed from %q to %q", id, got)
	}
	e.reopen()
	if got := e.s.StorageID(); got != id {
		t.Errorf("StorageID after reopen = %q, want %q", got, id)
	}
}

func testAppendLoad(t *testing.T, e *env) {
	want := []string{"change-1", "change-2", string(bytes.Repeat([]byte{0xab}, 64<<10)), "change-4"}
	var last uint64
	for i, c := range want {
		seq := appendChunk(t, e.s, "doc-a", c, 1)
		if seq <= last {
			t.Fatalf("Append #%d returned seq %d after %d: sequence numbers must increase", i+1, seq, last)
		}
		last = seq
		if i == 1 {
			appendChunk(t, e.s, "doc-b", "unrelated", 1) // interleaved with another document
		}
	}
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), nil, want, last)
	wantChunks(t, "doc-b", load(t, e.s, "doc-b"), nil, []string{"unrelated"}, 0)
}

func testCopies(t *testing.T, e *env) {
	in := []byte("abc")
	if _, err := e.s.Append(t.Context(), "doc-a", in, 1); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // the caller may reuse its buffer once Append returned
	state := []byte("state")
	if err := e.s.SaveSyncState(t.Context(), "doc-a", "peer-1", state); err != nil {
		t.Fatal(err)
	}
	state[0] = 'X'
	c := load(t, e.s, "doc-a")
	c.Incrementals[0][1] = 'Y' // and owns what Load returned
	got, err := e.s.LoadSyncState("doc-a", "peer-1")
	if err != nil {
		t.Fatal(err)
	}
	got[1] = 'Y'
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), nil, []string{"abc"}, 0)
	wantSync(t, e.s, "doc-a", "peer-1", "state")
}

func testNotFound(t *testing.T, e *env) {
	appendChunk(t, e.s, "doc-a", "change", 1)
	wantGone(t, e.s, "doc-b")
	_, err := e.s.LoadSyncState("doc-b", "peer-1")
	wantErr(t, "LoadSyncState of an unknown document", err, storage.ErrNotFound)
	_, err = e.s.LoadSyncState("doc-a", "peer-1")
	wantErr(t, "LoadSyncState of an unknown peer", err, storage.ErrNotFound)
	wantErr(t, "Delete", e.s.Delete(t.Context(), "doc-b"), storage.ErrNotFound)
	wantErr(t, "SaveSyncState", e.s.SaveSyncState(t.Context(), "doc-b", "peer-1", []byte("s")), storage.ErrNotFound)
	wantErr(t, "PutVersion", e.s.PutVersion(t.Context(), "doc-b", storage.Version{Name: "v1", Heads: "h"}), storage.ErrNotFound)
	wantGone(t, e.s, "doc-b") // none of those created it
}

func testInvalid(t *testing.T, e *env) {
	ctx := t.Context()
	appendChunk(t, e.s, "doc-a", "change", 1)
	_, err := e.s.Append(ctx, "", []byte("x"), 1)
	wantErr(t, "Append with an empty id", err, storage.ErrInvalid)
	_, err = e.s.Append(ctx, "doc-a", nil, 1)
	wantErr(t, "Append of an empty chunk", err, storage.ErrInvalid)
	_, err = e.s.Append(ctx, "doc-a", []byte("x"), -1)
	wantErr(t, "Append with a negative count", err, storage.ErrInvalid)
	_, err = e.s.Load("")
	wantErr(t, "Load with an empty id", err, storage.ErrInvalid)
	wantErr(t, "Compact of an empty snapshot", e.s.Compact(ctx, "doc-a", nil, 1, 1), storage.ErrInvalid)
	wantErr(t, "Compact beyond the last chunk", e.s.Compact(ctx, "doc-a", []byte("s"), 99, 1), storage.ErrInvalid)
	wantErr(t, "Compact of an unknown document beyond 0", e.s.Compact(ctx, "doc-b", []byte("s"), 1, 1), storage.ErrInvalid)
	wantErr(t, "SaveSyncState with an empty peer", e.s.SaveSyncState(ctx, "doc-a", "", []byte("s")), storage.ErrInvalid)
	wantErr(t, "PutVersion without a name", e.s.PutVersion(ctx, "doc-a", storage.Version{Heads: "h"}), storage.ErrInvalid)
	// A refused write changes nothing, and does not stop the store.
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), nil, []string{"change"}, 0)
	wantMeta(t, meta(t, e.s, "doc-a"), "doc-a", 6, 1, 1)
	wantGone(t, e.s, "doc-b")
	appendChunk(t, e.s, "doc-a", "more", 1)
}

func testCompact(t *testing.T, e *env) {
	for i := range 3 {
		appendChunk(t, e.s, "doc-a", fmt.Sprintf("c%d", i+1), 1)
	}
	appendChunk(t, e.s, "doc-b", "other", 1)
	upTo := load(t, e.s, "doc-a").LastSeq
	// Appended after the Load the snapshot was built from: kept.
	appendChunk(t, e.s, "doc-a", "c4", 1)
	s5 := appendChunk(t, e.s, "doc-a", "c5", 1)
	compact(t, e.s, "doc-a", "snap-1-3", upTo, 3)
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), []string{"snap-1-3"}, []string{"c4", "c5"}, s5)
	wantMeta(t, meta(t, e.s, "doc-a"), "doc-a", int64(len("snap-1-3c4c5")), 3, 3)

	// Compacting again replaces the snapshot too.
	compact(t, e.s, "doc-a", "snap-1-5", s5, 5)
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), []string{"snap-1-5"}, nil, s5)
	wantMeta(t, meta(t, e.s, "doc-a"), "doc-a", int64(len("snap-1-5")), 5, 1)
	if s6 := appendChunk(t, e.s, "doc-a", "c6", 1); s6 <= s5 {
		t.Errorf("Append after Compact returned seq %d, want > %d", s6, s5)
	}
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), []string{"snap-1-5"}, []string{"c6"}, 0)
	wantChunks(t, "doc-b", load(t, e.s, "doc-b"), nil, []string{"other"}, 0)
}

func testCompactFromZero(t *testing.T, e *env) {
	// An import: a whole document written as one snapshot.
	compact(t, e.s, "doc-a", "imported", 0, 7)
	if ok, err := e.s.Exists("doc-a"); err != nil || !ok {
		t.Fatalf("Exists after Compact from 0 = %v, %v", ok, err)
	}
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), []string{"imported"}, nil, 0)
	wantMeta(t, meta(t, e.s, "doc-a"), "doc-a", int64(len("imported")), 7, 1)
	seq := appendChunk(t, e.s, "doc-a", "next", 1)
	if seq == 0 {
		t.Error("Append after an import returned seq 0")
	}
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), []string{"imported"}, []string{"next"}, seq)
}

// testCompactAtomic loads the document while it is compacted: every Load
// sees all the incrementals or the snapshot, never a mix or nothing.
func testCompactAtomic(t *testing.T, e *env) {
	for i := range 20 {
		appendChunk(t, e.s, "doc-a", fmt.Sprintf("change-%02d", i), 1)
	}
	c := load(t, e.s, "doc-a")
	before, upTo := strs(c.Incrementals), c.LastSeq
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 2)
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				c, err := e.s.Load("doc-a")
				switch snaps, got := strs(c.Snapshots), strs(c.Incrementals); {
				case err != nil:
					errs <- fmt.Sprintf("Load during Compact: %v", err)
					return
				case len(snaps) == 0 && slices.Equal(got, before):
				case slices.Equal(snaps, []string{"snapshot"}) && len(got) == 0:
				default:
					errs <- fmt.Sprintf("Load during Compact saw snapshots %q, incrementals %q", snaps, got)
					return
				}
			}
		})
	}
	err := e.s.Compact(t.Context(), "doc-a", []byte("snapshot"), upTo, 20)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	if err != nil {
		t.Fatalf("Compact: %v", err)
	}
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), []string{"snapshot"}, nil, upTo)
}

func testConcurrent(t *testing.T, e *env) {
	const docs, chunks = 8, 20
	var wg sync.WaitGroup
	for d := range docs {
		wg.Go(func() {
			doc := fmt.Sprintf("doc-%d", d)
			for i := range chunks {
				if _, err := e.s.Append(t.Context(), doc, fmt.Appendf(nil, "%s/%d", doc, i), 1); err != nil {
					t.Errorf("Append(%s): %v", doc, err)
					return
				}
			}
			if err := e.s.SaveSyncState(t.Context(), doc, "peer-1", []byte(doc)); err != nil {
				t.Errorf("SaveSyncState(%s): %v", doc, err)
			}
		})
	}
	wg.Wait()
	for d := range docs {
		doc := fmt.Sprintf("doc-%d", d)
		var want []string
		for i := range chunks {
			want = append(want, fmt.Sprintf("%s/%d", doc, i))
		}
		wantChunks(t, doc, load(t, e.s, doc), nil, want, 0)
		wantSync(t, e.s, doc, "peer-1", doc)
	}
}
