package storage

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestVersions(t *testing.T) {
	s, _ := newTestStore(t, nil)
	ctx := context.Background()
	if err := s.PutVersion(ctx, "doc", Version{Name: "v1"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("version of a missing doc: %v, want ErrNotFound", err)
	}
	if _, err := s.Append(ctx, "doc", []byte("chunk"), 1); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i, name := range []string{"second", "first"} {
		v := Version{Name: name, Heads: "aa", Time: t0.Add(time.Duration(1-i) * time.Hour), User: "ann"}
		if err := s.PutVersion(ctx, "doc", v); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutVersion(ctx, "doc", Version{Name: "first"}); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate name: %v, want ErrExists", err)
	}
	if err := s.PutVersion(ctx, "doc", Version{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty name: %v, want ErrInvalid", err)
	}
	vs, err := s.Versions("doc")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Name != "first" || vs[1].Name != "second" || vs[0].User != "ann" || !vs[0].Time.Equal(t0) {
		t.Fatalf("versions = %+v, want first then second", vs)
	}
	// Versions live and die with the document; its chunks still load.
	if _, err := s.Load("doc"); err != nil {
		t.Fatalf("load with versions: %v", err)
	}
	if err := s.Delete(ctx, "doc"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Versions("doc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("versions of a deleted doc: %v, want ErrNotFound", err)
	}
}
