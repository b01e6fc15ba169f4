package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weft.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Append(ctx, "doc1", []byte("one"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Compact(ctx, "doc1", []byte("snap"), 1, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "doc1", []byte("two"), 1); err != nil {
		t.Fatal(err)
	}
	id := s.StorageID()

	// While the server holds the file: ErrLocked after the timeout.
	start := time.Now()
	if _, err := OpenReadOnly(path, &Options{Timeout: 100 * time.Millisecond}); !errors.Is(err, ErrLocked) {
		t.Fatalf("read-only open of a held file: %v, want ErrLocked", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("waited %s", el)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r, err := OpenReadOnly(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Several readers may share the file.
	r2, err := OpenReadOnly(path, &Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	r2.Close()
	if r.StorageID() != id {
		t.Errorf("storage id %q, want %q", r.StorageID(), id)
	}
	c, err := r.Load("doc1")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Concat(); !bytes.Equal(got, []byte("snaptwo")) {
		t.Errorf("Concat = %q", got)
	}
	if ms, err := r.List("", 0); err != nil || len(ms) != 1 || ms[0].Changes != 4 {
		t.Errorf("List = %+v, %v", ms, err)
	}
	if _, err := r.Append(ctx, "doc1", []byte("x"), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("write on a read-only store: %v, want ErrClosed", err)
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || buf.Len() == 0 {
		t.Errorf("WriteTo: %d bytes, %v", buf.Len(), err)
	}
	if err := r.Check(); err != nil {
		t.Error(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "absent.db"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
