package storagetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/weft-dev/weft/storage"
)

// appendChunk appends chunk to doc and returns its sequence number.
func appendChunk(t *testing.T, s Store, doc, chunk string, n int) uint64 {
	t.Helper()
	seq, err := s.Append(t.Context(), doc, []byte(chunk), n)
	if err != nil {
		t.Fatalf("Append(%s, %q): %v", doc, chunk, err)
	}
	return seq
}

// compact compacts doc into snapshot up to upTo.
func compact(t *testing.T, s Store, doc, snapshot string, upTo uint64, changes int) {
	t.Helper()
	if err := s.Compact(t.Context(), doc, []byte(snapshot), upTo, changes); err != nil {
		t.Fatalf("Compact(%s, %q, %d): %v", doc, snapshot, upTo, err)
	}
}

// load loads doc.
func load(t *testing.T, s Store, doc string) storage.Chunks {
	t.Helper()
	c, err := s.Load(doc)
	if err != nil {
		t.Fatalf("Load(%s): %v", doc, err)
	}
	return c
}

// meta returns doc's metadata.
func meta(t *testing.T, s Store, doc string) storage.DocMeta {
	t.Helper()
	m, err := s.Meta(doc)
	if err != nil {
		t.Fatalf("Meta(%s): %v", doc, err)
	}
	return m
}

// saveSync saves the sync state of doc with peer.
func saveSync(t *testing.T, s Store, doc, peer, state string) {
	t.Helper()
	if err := s.SaveSyncState(t.Context(), doc, peer, []byte(state)); err != nil {
		t.Fatalf("SaveSyncState(%s, %s): %v", doc, peer, err)
	}
}

// wantSync checks the sync state of doc with peer.
func wantSync(t *testing.T, s Store, doc, peer, want string) {
	t.Helper()
	got, err := s.LoadSyncState(doc, peer)
	if err != nil {
		t.Fatalf("LoadSyncState(%s, %s): %v", doc, peer, err)
	}
	if string(got) != want {
		t.Errorf("LoadSyncState(%s, %s) = %q, want %q", doc, peer, got, want)
	}
}

// strs renders chunks as strings.
func strs(cs [][]byte) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, string(c))
	}
	return out
}

// wantChunks checks what Load returned for doc: snapshots, incrementals
// and, unless lastSeq is 0, LastSeq. Bytes must be the payload total.
func wantChunks(t *testing.T, doc string, c storage.Chunks, snaps, incs []string, lastSeq uint64) {
	t.Helper()
	if got := strs(c.Snapshots); !slices.Equal(got, snaps) {
		t.Errorf("Load(%s) snapshots = %q, want %q", doc, got, snaps)
	}
	if got := strs(c.Incrementals); !slices.Equal(got, incs) {
		t.Errorf("Load(%s) incrementals = %q, want %q", doc, got, incs)
	}
	if lastSeq != 0 && c.LastSeq != lastSeq {
		t.Errorf("Load(%s) LastSeq = %d, want %d", doc, c.LastSeq, lastSeq)
	}
	var n int64
	for _, s := range slices.Concat(snaps, incs) {
		n += int64(len(s))
	}
	if c.Bytes != n {
		t.Errorf("Load(%s) Bytes = %d, want %d", doc, c.Bytes, n)
	}
}

// wantErr checks that err wraps target.
func wantErr(t *testing.T, call string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", call, err, target)
	}
}

// wantGone checks that doc is not stored at all.
func wantGone(t *testing.T, s Store, doc string) {
	t.Helper()
	if ok, err := s.Exists(doc); err != nil || ok {
		t.Errorf("Exists(%s) = %v, %v; want false, nil", doc, ok, err)
	}
	_, err := s.Load(doc)
	wantErr(t, "Load("+doc+")", err, storage.ErrNotFound)
	_, err = s.Meta(doc)
	wantErr(t, "Meta("+doc+")", err, storage.ErrNotFound)
	_, err = s.Versions(doc)
	wantErr(t, "Versions("+doc+")", err, storage.ErrNotFound)
}

// wantMeta checks doc's size, change and chunk counts.
func wantMeta(t *testing.T, m storage.DocMeta, doc string, size int64, changes, chunks int) {
	t.Helper()
	if m.ID != doc || m.Size != size || m.Changes != changes || m.Chunks != chunks {
		t.Errorf("Meta = %+v; want ID %s, Size %d, Changes %d, Chunks %d", m, doc, size, changes, chunks)
	}
	if m.Created.IsZero() || m.Updated.Before(m.Created) {
		t.Errorf("Meta(%s): Created %v, Updated %v; want set, Created <= Updated", doc, m.Created, m.Updated)
	}
}

// sameMeta reports whether a and b describe the same stored state.
func sameMeta(a, b storage.DocMeta) bool {
	return a.ID == b.ID && a.Size == b.Size && a.Changes == b.Changes && a.Chunks == b.Chunks &&
		a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated)
}
