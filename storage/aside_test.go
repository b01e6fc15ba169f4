package storage

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// A chunk set aside survives a reopen and the document's deletion.
func TestSetAside(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weft.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	doc := "4ZjQUoU3fh6SLMMRzMdsvUDC44k9"
	if got, err := s.SetAsideChunks(doc); err != nil || len(got) != 0 {
		t.Fatalf("before: %v, %v", got, err)
	}
	if _, err := s.Append(ctx, doc, []byte("good"), 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"bad one", "bad two"} {
		if err := s.SetAside(ctx, doc, []byte(c), "does not load: "+c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, doc); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.SetAsideChunks(doc)
	if err != nil || len(got) != 2 {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
	if !bytes.Equal(got[0].Chunk, []byte("bad one")) || got[1].Reason != "does not load: bad two" || got[0].At.IsZero() {
		t.Fatalf("set-aside chunks read back wrong: %+v", got)
	}
}
