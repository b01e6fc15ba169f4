package storage

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/weft-dev/weft/storage/testwait"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestOpenCreatesParentDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "weft.db")
	s := openTestStore(t, path, nil)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("data file not created: %v", err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
}

func TestOpenRejectsNonBoltFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weft.db")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not a bolt file "), 512), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open of a non-bbolt file succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestStorageIDStableAcrossReopen(t *testing.T) {
	s, _ := newTestStore(t, nil)
	id := s.StorageID()
	if !uuidV4.MatchString(id) {
		t.Fatalf("StorageID() = %q, not a UUID v4", id)
	}
	s = reopen(t, s, nil)
	if got := s.StorageID(); got != id {
		t.Errorf("after reopen StorageID() = %q, want %q", got, id)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.StorageID(); got != id {
		t.Errorf("after Close StorageID() = %q, want %q", got, id)
	}

	other, _ := newTestStore(t, nil)
	if other.StorageID() == id {
		t.Errorf("two files share storage id %q", id)
	}
}

func TestNodeMeta(t *testing.T) {
	s, _ := newTestStore(t, nil)
	if _, err := s.NodeMeta("k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NodeMeta of a missing key: err = %v, want ErrNotFound", err)
	}
	for _, tc := range []struct {
		name, key string
		value     []byte
	}{
		{"plain", "k", []byte("v1")},
		{"overwrite", "k", []byte("v2")},
		{"empty value", "empty", []byte{}},
		{"binary", "bin", []byte{0, 1, 2, 255}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetNodeMeta(tc.key, tc.value); err != nil {
				t.Fatalf("SetNodeMeta: %v", err)
			}
			got, err := s.NodeMeta(tc.key)
			if err != nil || !bytes.Equal(got, tc.value) {
				t.Fatalf("NodeMeta(%q) = %q, %v; want %q", tc.key, got, err, tc.value)
			}
		})
	}
	s = reopen(t, s, nil)
	if got, err := s.NodeMeta("k"); err != nil || string(got) != "v2" {
		t.Errorf("after reopen NodeMeta(k) = %q, %v; want v2", got, err)
	}
	for _, key := range []string{"", strings.Repeat("k", MaxIDLen+1)} {
		if err := s.SetNodeMeta(key, []byte("v")); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetNodeMeta(%d-byte key): err = %v, want ErrInvalid", len(key), err)
		}
	}
}

func TestCloseIdempotentAndErrClosed(t *testing.T) {
	s, _ := newTestStore(t, nil)
	ctx := t.Context()
	mustAppend(t, s, "doc", []byte("x"), 1)
	for i := range 3 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Append", func() error { _, err := s.Append(ctx, "doc", []byte("y"), 1); return err }},
		{"Compact", func() error { return s.Compact(ctx, "doc", []byte("s"), 1, 1) }},
		{"SaveSyncState", func() error { return s.SaveSyncState(ctx, "doc", "peer", []byte("st")) }},
		{"Delete", func() error { return s.Delete(ctx, "doc") }},
		{"SetNodeMeta", func() error { return s.SetNodeMeta("k", []byte("v")) }},
		{"Load", func() error { _, err := s.Load("doc"); return err }},
		{"Meta", func() error { _, err := s.Meta("doc"); return err }},
		{"List", func() error { _, err := s.List("", 0); return err }},
		{"Exists", func() error { _, err := s.Exists("doc"); return err }},
		{"LoadSyncState", func() error { _, err := s.LoadSyncState("doc", "peer"); return err }},
		{"NodeMeta", func() error { _, err := s.NodeMeta("k"); return err }},
		{"WriteTo", func() error { _, err := s.WriteTo(&bytes.Buffer{}); return err }},
		{"Check", s.Check},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close: err = %v, want ErrClosed", tc.name, err)
			}
		})
	}
}

// TestClosePendingWritesFinish queues writes behind a held commit, closes the Store while they
// wait, and checks that they are committed while writes after Close get ErrClosed.
func TestClosePendingWritesFinish(t *testing.T) {
	s, gate := newGatedStore(t)
	ctx := t.Context()
	mustAppend(t, s, "doc", []byte("first"), 1)
	<-gate.entered

	const pending = 10
	errs := make(chan error, pending)
	for i := range pending {
		go func() {
			_, err := s.Append(ctx, "doc", []byte{byte('a' + i)}, 1)
			errs <- err
		}()
	}
	testwait.Until(t, testwait.Timeout, "writes to queue", func() bool { return s.queueLen() == pending })
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	testwait.Until(t, testwait.Timeout, "Close to begin", s.isClosing)
	if _, err := s.Append(ctx, "doc", []byte("late"), 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close began: err = %v, want ErrClosed", err)
	}
	gate.open()
	for range pending {
		if err := <-errs; err != nil {
			t.Errorf("pending Append: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = openTestStore(t, s.Path(), nil)
	if c := mustLoad(t, s, "doc"); len(c.Incrementals) != pending+1 || c.LastSeq != pending+1 {
		t.Errorf("after reopen: %d incrementals, last seq %d; want %d", len(c.Incrementals), c.LastSeq, pending+1)
	}
}

func TestSecondOpenFailsWithinTimeout(t *testing.T) {
	s, path := newTestStore(t, nil)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{
		{"short timeout", 50 * time.Millisecond},
		{"default timeout", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			s2, err := Open(path, &Options{Timeout: tc.timeout})
			if err == nil {
				s2.Close()
				t.Fatal("second Open of an open file succeeded")
			}
			if !errors.Is(err, ErrLocked) {
				t.Errorf("err = %v, want ErrLocked", err)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use") {
				t.Errorf("error %q does not say which file is in use", err)
			}
			if d := time.Since(start); d > DefaultTimeout+5*time.Second {
				t.Errorf("Open took %v", d)
			}
		})
	}
	// The first Store is unaffected.
	mustAppend(t, s, "doc", []byte("x"), 1)
}

func TestWriteToBackup(t *testing.T) {
	s, _ := newTestStore(t, nil)
	mustAppend(t, s, "doc", []byte("one"), 1)
	mustAppend(t, s, "doc", []byte("two"), 1)
	if err := s.SaveSyncState(t.Context(), "doc", "peer", []byte("state")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := s.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (buffer holds %d)", n, err, buf.Len())
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(backup, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	b := openTestStore(t, backup, nil)
	if b.StorageID() != s.StorageID() {
		t.Errorf("backup storage id %q, want %q", b.StorageID(), s.StorageID())
	}
	if c := mustLoad(t, b, "doc"); !equalChunks(c.Incrementals, [][]byte{[]byte("one"), []byte("two")}) {
		t.Errorf("backup chunks %q", byteStrings(c.Incrementals))
	}
	if st, err := b.LoadSyncState("doc", "peer"); err != nil || string(st) != "state" {
		t.Errorf("backup sync state %q, %v", st, err)
	}
}

func TestCheck(t *testing.T) {
	s, _ := newTestStore(t, nil)
	for i := range 50 {
		mustAppend(t, s, "doc", bytes.Repeat([]byte{byte(i)}, 1000), 1)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// TestDeps keeps storage pure Go and independent of the rest of weft.
func TestDeps(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go tool not available: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		switch {
		case dep == "github.com/weft-dev/weft/storage":
		case strings.HasPrefix(dep, "github.com/weft-dev/weft"):
			t.Errorf("storage depends on %s: it must not import other weft packages", dep)
		case dep == "runtime/cgo", strings.HasPrefix(dep, "github.com/automerge/"):
			t.Errorf("storage depends on %s: it must stay pure Go", dep)
		}
	}
}

// TestOptionsCopied checks that Open copies its options.
func TestOptionsCopied(t *testing.T) {
	called := make(chan int, 10)
	opts := &Options{}
	s, _ := newTestStore(t, opts)
	opts.OnCommit = func(n int, _ time.Duration) { called <- n }
	mustAppend(t, s, "doc", []byte("x"), 1)
	if len(called) != 0 {
		t.Error("OnCommit set after Open was called")
	}
}
