package storagetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-dev/weft/storage"
)

func testMeta(t *testing.T, e *env) {
	appendChunk(t, e.s, "doc-a", "12345", 2)
	first := meta(t, e.s, "doc-a")
	wantMeta(t, first, "doc-a", 5, 2, 1)
	appendChunk(t, e.s, "doc-a", "678", 3)
	saveSync(t, e.s, "doc-a", "peer-1", "not counted in Size")
	m := meta(t, e.s, "doc-a")
	wantMeta(t, m, "doc-a", 8, 5, 2)
	if !m.Created.Equal(first.Created) || m.Updated.Before(first.Updated) {
		t.Errorf("after a second Append: Created %v -> %v, Updated %v -> %v; want Created kept, Updated not earlier",
			first.Created, m.Created, first.Updated, m.Updated)
	}
	compact(t, e.s, "doc-a", "snapshot", load(t, e.s, "doc-a").LastSeq, 4)
	c := meta(t, e.s, "doc-a")
	wantMeta(t, c, "doc-a", 8, 4, 1)
	if !c.Created.Equal(first.Created) || c.Updated.Before(m.Updated) {
		t.Errorf("after Compact: Created %v -> %v, Updated %v -> %v", first.Created, c.Created, m.Updated, c.Updated)
	}
	if ok, err := e.s.Exists("doc-a"); err != nil || !ok {
		t.Errorf("Exists = %v, %v; want true, nil", ok, err)
	}
}

func testList(t *testing.T, e *env) {
	if got, err := e.s.List("", 0); err != nil || len(got) != 0 {
		t.Fatalf("List of an empty store = %v, %v", got, err)
	}
	for i, doc := range []string{"doc-c", "doc-a", "doc-e", "doc-b", "doc-d"} {
		appendChunk(t, e.s, doc, strings.Repeat("x", i+1), i+1)
	}
	all, err := e.s.List("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(all); !slices.Equal(got, []string{"doc-a", "doc-b", "doc-c", "doc-d", "doc-e"}) {
		t.Fatalf("List = %q, want doc-a..doc-e in order", got)
	}
	for _, m := range all {
		if want := meta(t, e.s, m.ID); !sameMeta(m, want) {
			t.Errorf("List entry %+v, Meta %+v", m, want)
		}
	}
	for _, tc := range []struct {
		after string
		limit int
		want  []string
	}{
		{"", 2, []string{"doc-a", "doc-b"}},
		{"doc-b", 2, []string{"doc-c", "doc-d"}},
		{"doc-d", 2, []string{"doc-e"}},
		{"doc-e", 2, nil},
		{"doc-bb", 0, []string{"doc-c", "doc-d", "doc-e"}}, // after an id that is not stored
		{"doc-c", -1, []string{"doc-d", "doc-e"}},
	} {
		got, err := e.s.List(tc.after, tc.limit)
		if err != nil {
			t.Fatalf("List(%q, %d): %v", tc.after, tc.limit, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("List(%q, %d) = %q, want %q", tc.after, tc.limit, ids(got), tc.want)
		}
	}
}

func ids(ms []storage.DocMeta) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

func testSyncStates(t *testing.T, e *env) {
	appendChunk(t, e.s, "doc-a", "change", 1)
	appendChunk(t, e.s, "doc-b", "change", 1)
	saveSync(t, e.s, "doc-a", "peer-1", "a1")
	saveSync(t, e.s, "doc-a", "peer-2", "a2")
	saveSync(t, e.s, "doc-b", "peer-1", "b1")
	wantSync(t, e.s, "doc-a", "peer-1", "a1")
	wantSync(t, e.s, "doc-a", "peer-2", "a2")
	wantSync(t, e.s, "doc-b", "peer-1", "b1")
	saveSync(t, e.s, "doc-a", "peer-1", "a1, later")
	wantSync(t, e.s, "doc-a", "peer-1", "a1, later")
	wantSync(t, e.s, "doc-a", "peer-2", "a2")
	wantSync(t, e.s, "doc-b", "peer-1", "b1")
	_, err := e.s.LoadSyncState("doc-b", "peer-2")
	wantErr(t, "LoadSyncState of a peer saved for another document", err, storage.ErrNotFound)
	// A sync state outlives a compaction of its document.
	compact(t, e.s, "doc-a", "snapshot", load(t, e.s, "doc-a").LastSeq, 1)
	wantSync(t, e.s, "doc-a", "peer-1", "a1, later")
}

func testVersions(t *testing.T, e *env) {
	appendChunk(t, e.s, "doc-a", "change", 1)
	appendChunk(t, e.s, "doc-b", "change", 1)
	if vs, err := e.s.Versions("doc-a"); err != nil || len(vs) != 0 {
		t.Fatalf("Versions of a document without any = %v, %v", vs, err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	later := storage.Version{Name: "later", Heads: "h2,h3", Time: t0.Add(time.Hour), User: "bob", Message: "second"}
	earlier := storage.Version{Name: "earlier", Heads: "h1", Time: t0, User: "alice", Message: "first"}
	for _, v := range []storage.Version{later, earlier} { // stored out of time order
		if err := e.s.PutVersion(t.Context(), "doc-a", v); err != nil {
			t.Fatalf("PutVersion(%q): %v", v.Name, err)
		}
	}
	dup := storage.Version{Name: "earlier", Heads: "other", Time: t0.Add(2 * time.Hour)}
	wantErr(t, "PutVersion of a taken name", e.s.PutVersion(t.Context(), "doc-a", dup), storage.ErrExists)
	if err := e.s.PutVersion(t.Context(), "doc-b", dup); err != nil {
		t.Errorf("PutVersion of a name taken in another document: %v", err)
	}
	vs, err := e.s.Versions("doc-a")
	if err != nil {
		t.Fatal(err)
	}
	if !sameVersions(vs, []storage.Version{earlier, later}) {
		t.Errorf("Versions = %+v, want %+v", vs, []storage.Version{earlier, later})
	}
}

func sameVersions(a, b []storage.Version) bool {
	return slices.EqualFunc(a, b, func(x, y storage.Version) bool {
		return x.Name == y.Name && x.Heads == y.Heads && x.Time.Equal(y.Time) && x.User == y.User && x.Message == y.Message
	})
}

// fill stores one of everything for doc.
func fill(t *testing.T, s Store, doc string) {
	t.Helper()
	appendChunk(t, s, doc, doc+"/1", 1)
	appendChunk(t, s, doc, doc+"/2", 1)
	compact(t, s, doc, doc+"/snap", load(t, s, doc).LastSeq, 2)
	appendChunk(t, s, doc, doc+"/3", 1)
	saveSync(t, s, doc, "peer-1", doc+"/sync")
	if err := s.PutVersion(t.Context(), doc, storage.Version{Name: "v1", Heads: doc, Time: time.Now()}); err != nil {
		t.Fatalf("PutVersion(%s): %v", doc, err)
	}
}

// wantFilled checks what fill stored for doc.
func wantFilled(t *testing.T, s Store, doc string) {
	t.Helper()
	wantChunks(t, doc, load(t, s, doc), []string{doc + "/snap"}, []string{doc + "/3"}, 0)
	wantMeta(t, meta(t, s, doc), doc, int64(len(doc+"/snap"+doc+"/3")), 3, 2)
	wantSync(t, s, doc, "peer-1", doc+"/sync")
	if vs, err := s.Versions(doc); err != nil || len(vs) != 1 || vs[0].Name != "v1" || vs[0].Heads != doc {
		t.Errorf("Versions(%s) = %+v, %v", doc, vs, err)
	}
}

func testDelete(t *testing.T, e *env) {
	fill(t, e.s, "doc-a")
	fill(t, e.s, "doc-b")
	if err := e.s.Delete(t.Context(), "doc-a"); err != nil {
		t.Fatal(err)
	}
	wantGone(t, e.s, "doc-a")
	_, err := e.s.LoadSyncState("doc-a", "peer-1")
	wantErr(t, "LoadSyncState after Delete", err, storage.ErrNotFound)
	if got, err := e.s.List("", 0); err != nil || !slices.Equal(ids(got), []string{"doc-b"}) {
		t.Errorf("List after Delete = %q, %v; want [doc-b]", ids(got), err)
	}
	wantErr(t, "second Delete", e.s.Delete(t.Context(), "doc-a"), storage.ErrNotFound)
	wantFilled(t, e.s, "doc-b")
	if e.b.Tombstones {
		wantTombstone(t, e.s, "doc-a")
		return
	}

	// Stored again, the document starts empty.
	seq := appendChunk(t, e.s, "doc-a", "new", 4)
	wantChunks(t, "doc-a", load(t, e.s, "doc-a"), nil, []string{"new"}, seq)
	wantMeta(t, meta(t, e.s, "doc-a"), "doc-a", 3, 4, 1)
	_, err = e.s.LoadSyncState("doc-a", "peer-1")
	wantErr(t, "LoadSyncState after re-creation", err, storage.ErrNotFound)
	if vs, err := e.s.Versions("doc-a"); err != nil || len(vs) != 0 {
		t.Errorf("Versions after re-creation = %+v, %v; want none", vs, err)
	}
	if err := e.s.PutVersion(t.Context(), "doc-a", storage.Version{Name: "v1", Heads: "h"}); err != nil {
		t.Errorf("PutVersion of a name the deleted document had: %v", err)
	}
}

// wantTombstone checks that writes to the deleted doc fail with ErrDeleted and write nothing.
func wantTombstone(t *testing.T, s Store, doc string) {
	t.Helper()
	ctx := t.Context()
	_, err := s.Append(ctx, doc, []byte("new"), 4)
	wantErr(t, "Append after Delete", err, storage.ErrDeleted)
	wantErr(t, "Compact after Delete", s.Compact(ctx, doc, []byte("s"), 0, 1), storage.ErrDeleted)
	wantErr(t, "SaveSyncState after Delete", s.SaveSyncState(ctx, doc, "peer-1", []byte("s")), storage.ErrDeleted)
	wantErr(t, "PutVersion after Delete", s.PutVersion(ctx, doc, storage.Version{Name: "v1", Heads: "h"}), storage.ErrDeleted)
	wantGone(t, s, doc)
	if got, err := s.List("", 0); err != nil || !slices.Equal(ids(got), []string{"doc-b"}) {
		t.Errorf("List after writes to a deleted document = %q, %v; want [doc-b]", ids(got), err)
	}
}

func testDurable(t *testing.T, e *env) {
	id := e.s.StorageID()
	fill(t, e.s, "doc-a")
	fill(t, e.s, "doc-b")
	appendChunk(t, e.s, "doc-c", "gone", 1)
	if err := e.s.Delete(t.Context(), "doc-c"); err != nil {
		t.Fatal(err)
	}
	last := load(t, e.s, "doc-a").LastSeq
	before, err := e.s.List("", 0)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		e.reopen()
		if got := e.s.StorageID(); got != id {
			t.Errorf("round %d: StorageID %q, want %q", round, got, id)
		}
		wantFilled(t, e.s, "doc-a")
		wantFilled(t, e.s, "doc-b")
		wantGone(t, e.s, "doc-c")
		after, err := e.s.List("", 0)
		if err != nil || !slices.EqualFunc(after, before, sameMeta) {
			t.Errorf("round %d: List = %+v, %v; want %+v", round, after, err, before)
		}
	}
	if seq := appendChunk(t, e.s, "doc-a", "after reopen", 1); seq <= last {
		t.Errorf("Append after reopen returned seq %d, want > %d", seq, last)
	}
}

func testCanceled(t *testing.T, e *env) {
	fill(t, e.s, "doc-a")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, write := range map[string]func() error{
		"Append":        func() error { _, err := e.s.Append(ctx, "doc-b", []byte("x"), 1); return err },
		"Append (old)":  func() error { _, err := e.s.Append(ctx, "doc-a", []byte("x"), 1); return err },
		"Compact":       func() error { return e.s.Compact(ctx, "doc-a", []byte("x"), 1, 1) },
		"SaveSyncState": func() error { return e.s.SaveSyncState(ctx, "doc-a", "peer-1", []byte("x")) },
		"PutVersion":    func() error { return e.s.PutVersion(ctx, "doc-a", storage.Version{Name: "v2", Heads: "h"}) },
		"Delete":        func() error { return e.s.Delete(ctx, "doc-a") },
	} {
		wantErr(t, name+" with a done context", write(), context.Canceled)
	}
	wantFilled(t, e.s, "doc-a")
	wantGone(t, e.s, "doc-b")
}

func testClosed(t *testing.T, e *env) {
	fill(t, e.s, "doc-a")
	s := e.s
	e.close()
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"Append":        func() error { _, err := s.Append(ctx, "doc-a", []byte("x"), 1); return err },
		"Compact":       func() error { return s.Compact(ctx, "doc-a", []byte("x"), 1, 1) },
		"SaveSyncState": func() error { return s.SaveSyncState(ctx, "doc-a", "peer-1", []byte("x")) },
		"PutVersion":    func() error { return s.PutVersion(ctx, "doc-a", storage.Version{Name: "v2", Heads: "h"}) },
		"Delete":        func() error { return s.Delete(ctx, "doc-a") },
		"Load":          func() error { _, err := s.Load("doc-a"); return err },
		"Meta":          func() error { _, err := s.Meta("doc-a"); return err },
		"List":          func() error { _, err := s.List("", 0); return err },
		"Exists":        func() error { _, err := s.Exists("doc-a"); return err },
		"LoadSyncState": func() error { _, err := s.LoadSyncState("doc-a", "peer-1"); return err },
		"Versions":      func() error { _, err := s.Versions("doc-a"); return err },
	} {
		wantErr(t, name+" after Close", call(), storage.ErrClosed)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	e.open() // nothing was written after Close
	wantFilled(t, e.s, "doc-a")
}

func testCorrupt(t *testing.T, e *env) {
	if e.b.Corrupt == nil {
		t.Skip("the backend cannot damage its stored data (Backend.Corrupt is nil)")
	}
	appendChunk(t, e.s, "doc-a", "change one", 1)
	appendChunk(t, e.s, "doc-a", "change two", 1)
	appendChunk(t, e.s, "doc-b", "change one", 1)
	e.close()
	e.b.Corrupt("doc-a")
	e.open()
	_, err := e.s.Load("doc-a")
	if !errors.Is(err, storage.ErrCorrupt) {
		t.Fatalf("Load of a damaged document: err = %v, want ErrCorrupt", err)
	}
	if !strings.Contains(err.Error(), "doc-a") {
		t.Errorf("error %q does not name the document", err)
	}
	// The damage stays confined to its document.
	wantChunks(t, "doc-b", load(t, e.s, "doc-b"), nil, []string{"change one"}, 0)
	appendChunk(t, e.s, "doc-b", "change two", 1)
	appendChunk(t, e.s, "doc-c", "new", 1)
}
