package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestAppendLoadRoundtripAcrossReopen(t *testing.T) {
	s, _ := newTestStore(t, nil)
	want := [][]byte{[]byte("change-1"), []byte("change-2"), bytes.Repeat([]byte{0xab}, 64<<10)}
	var total int64
	for i, c := range want {
		if seq := mustAppend(t, s, "doc", c, i+1); seq != uint64(i+1) {
			t.Fatalf("Append #%d returned seq %d, want %d", i+1, seq, i+1)
		}
		total += int64(len(c))
	}
	mustAppend(t, s, "other", []byte("unrelated"), 1)

	for round := range 2 {
		c := mustLoad(t, s, "doc")
		if len(c.Snapshots) != 0 || !equalChunks(c.Incrementals, want) {
			t.Fatalf("round %d: Load = %d snapshots, incrementals %d; want 0, %d", round, len(c.Snapshots), len(c.Incrementals), len(want))
		}
		if c.LastSeq != 3 || c.Bytes != total {
			t.Errorf("round %d: LastSeq %d, Bytes %d; want 3, %d", round, c.LastSeq, c.Bytes, total)
		}
		m, err := s.Meta("doc")
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != "doc" || m.Size != total || m.Changes != 6 || m.Chunks != 3 {
			t.Errorf("round %d: Meta = %+v", round, m)
		}
		s = reopen(t, s, nil)
	}
	if seq := mustAppend(t, s, "doc", []byte("after reopen"), 1); seq != 4 {
		t.Errorf("Append after reopen returned seq %d, want 4", seq)
	}
}

func TestLoadReturnsCopies(t *testing.T) {
	s, _ := newTestStore(t, nil)
	in := []byte("abc")
	mustAppend(t, s, "doc", in, 1)
	in[0] = 'X' // the caller may reuse its buffer once Append returned
	c := mustLoad(t, s, "doc")
	c.Incrementals[0][1] = 'Y'
	if got := mustLoad(t, s, "doc").Incrementals[0]; string(got) != "abc" {
		t.Errorf("stored chunk changed to %q", got)
	}
}

func TestInvalidArguments(t *testing.T) {
	s, _ := newTestStore(t, nil)
	ctx := t.Context()
	long := strings.Repeat("d", MaxIDLen+1)
	mustAppend(t, s, "doc", []byte("x"), 1)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Append empty doc id", func() error { _, err := s.Append(ctx, "", []byte("x"), 1); return err }},
		{"Append long doc id", func() error { _, err := s.Append(ctx, long, []byte("x"), 1); return err }},
		{"Append empty chunk", func() error { _, err := s.Append(ctx, "doc", nil, 1); return err }},
		{"Append negative changes", func() error { _, err := s.Append(ctx, "doc", []byte("x"), -1); return err }},
		{"Compact empty snapshot", func() error { return s.Compact(ctx, "doc", []byte{}, 1, 1) }},
		{"Compact empty doc id", func() error { return s.Compact(ctx, "", []byte("s"), 1, 1) }},
		{"Compact negative changes", func() error { return s.Compact(ctx, "doc", []byte("s"), 1, -1) }},
		{"Compact beyond last seq", func() error { return s.Compact(ctx, "doc", []byte("s"), 2, 1) }},
		{"Compact unknown doc beyond 0", func() error { return s.Compact(ctx, "new", []byte("s"), 1, 1) }},
		{"SaveSyncState empty peer", func() error { return s.SaveSyncState(ctx, "doc", "", []byte("st")) }},
		{"SaveSyncState long peer", func() error { return s.SaveSyncState(ctx, "doc", long, []byte("st")) }},
		{"SaveSyncState empty state", func() error { return s.SaveSyncState(ctx, "doc", "peer", nil) }},
		{"Load long doc id", func() error { _, err := s.Load(long); return err }},
		{"Meta empty doc id", func() error { _, err := s.Meta(""); return err }},
		{"Exists empty doc id", func() error { _, err := s.Exists(""); return err }},
		{"Delete empty doc id", func() error { return s.Delete(ctx, "") }},
		{"LoadSyncState empty doc id", func() error { _, err := s.LoadSyncState("", "peer"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
	// Nothing was written by the rejected calls.
	if c := mustLoad(t, s, "doc"); len(c.Incrementals) != 1 || len(c.Snapshots) != 0 {
		t.Errorf("doc has %d incrementals, %d snapshots after rejected calls", len(c.Incrementals), len(c.Snapshots))
	}
	if ok, _ := s.Exists("new"); ok {
		t.Error("a rejected Compact created a document")
	}
	if st := s.Stats(); st.CommitErrors != 0 {
		t.Errorf("CommitErrors = %d", st.CommitErrors)
	}
}

func TestNotFound(t *testing.T) {
	s, _ := newTestStore(t, nil)
	mustAppend(t, s, "doc", []byte("x"), 1)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Load", func() error { _, err := s.Load("missing"); return err }},
		{"Meta", func() error { _, err := s.Meta("missing"); return err }},
		{"LoadSyncState of missing doc", func() error { _, err := s.LoadSyncState("missing", "p"); return err }},
		{"LoadSyncState of missing peer", func() error { _, err := s.LoadSyncState("doc", "p"); return err }},
		{"SaveSyncState of missing doc", func() error { return s.SaveSyncState(t.Context(), "missing", "p", []byte("s")) }},
		{"Delete", func() error { return s.Delete(t.Context(), "missing") }},
		{"NodeMeta", func() error { _, err := s.NodeMeta("missing"); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrNotFound) {
				t.Errorf("err = %v, want ErrNotFound", err)
			}
		})
	}
	if ok, err := s.Exists("missing"); ok || err != nil {
		t.Errorf("Exists(missing) = %v, %v", ok, err)
	}
}

func TestCompact(t *testing.T) {
	type want struct {
		snapshots, incrementals []string
		lastSeq                 uint64
		changes                 int
	}
	for _, tc := range []struct {
		name    string
		appends int // chunks "i1".."iN" appended first, one change each
		compact func(t *testing.T, s *Store)
		want    want
		nextSeq uint64 // sequence number of the next Append
	}{
		{
			name:    "all chunks",
			appends: 3,
			compact: func(t *testing.T, s *Store) { mustCompact(t, s, "s3", 3, 3) },
			want:    want{snapshots: []string{"s3"}, lastSeq: 3, changes: 3},
			nextSeq: 4,
		},
		{
			name:    "keeps chunks after upTo",
			appends: 5,
			compact: func(t *testing.T, s *Store) { mustCompact(t, s, "s2", 2, 2) },
			want:    want{snapshots: []string{"s2"}, incrementals: []string{"i3", "i4", "i5"}, lastSeq: 5, changes: 2},
			nextSeq: 6,
		},
		{
			name:    "twice",
			appends: 4,
			compact: func(t *testing.T, s *Store) {
				mustCompact(t, s, "s2", 2, 2)
				mustCompact(t, s, "s3", 3, 3)
			},
			want:    want{snapshots: []string{"s3"}, incrementals: []string{"i4"}, lastSeq: 4, changes: 3},
			nextSeq: 5,
		},
		{
			name:    "after more appends",
			appends: 2,
			compact: func(t *testing.T, s *Store) {
				mustCompact(t, s, "s2", 2, 2)
				mustAppend(t, s, "doc", []byte("i3"), 1)
				mustCompact(t, s, "s3", 3, 3)
			},
			want:    want{snapshots: []string{"s3"}, lastSeq: 3, changes: 3},
			nextSeq: 4,
		},
		{
			name:    "upTo 0 creates a document",
			compact: func(t *testing.T, s *Store) { mustCompact(t, s, "import", 0, 7) },
			want:    want{snapshots: []string{"import"}, lastSeq: 0, changes: 7},
			nextSeq: 1,
		},
		{
			name:    "upTo 0 keeps existing incrementals",
			appends: 2,
			compact: func(t *testing.T, s *Store) { mustCompact(t, s, "s0", 0, 9) },
			want:    want{snapshots: []string{"s0"}, incrementals: []string{"i1", "i2"}, lastSeq: 2, changes: 9},
			nextSeq: 3,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestStore(t, nil)
			for i := 1; i <= tc.appends; i++ {
				mustAppend(t, s, "doc", fmt.Appendf(nil, "i%d", i), 1)
			}
			tc.compact(t, s)
			for round := range 2 {
				c := mustLoad(t, s, "doc")
				gotS, gotI := byteStrings(c.Snapshots), byteStrings(c.Incrementals)
				if fmt.Sprint(gotS) != fmt.Sprint(tc.want.snapshots) || fmt.Sprint(gotI) != fmt.Sprint(tc.want.incrementals) {
					t.Errorf("round %d: snapshots %q incrementals %q; want %q %q", round, gotS, gotI, tc.want.snapshots, tc.want.incrementals)
				}
				if c.LastSeq != tc.want.lastSeq {
					t.Errorf("round %d: LastSeq %d, want %d", round, c.LastSeq, tc.want.lastSeq)
				}
				var size int64
				for _, x := range append(c.Snapshots, c.Incrementals...) {
					size += int64(len(x))
				}
				m, err := s.Meta("doc")
				if err != nil {
					t.Fatal(err)
				}
				wantChunks := len(tc.want.snapshots) + len(tc.want.incrementals)
				if m.Changes != tc.want.changes || m.Chunks != wantChunks || m.Size != size || c.Bytes != size {
					t.Errorf("round %d: Meta %+v, Bytes %d; want changes %d, chunks %d, size %d", round, m, c.Bytes, tc.want.changes, wantChunks, size)
				}
				s = reopen(t, s, nil)
			}
			if seq := mustAppend(t, s, "doc", []byte("next"), 1); seq != tc.nextSeq {
				t.Errorf("next Append got seq %d, want %d", seq, tc.nextSeq)
			}
		})
	}
}

func mustCompact(t *testing.T, s *Store, snapshot string, upTo uint64, changes int) {
	t.Helper()
	if err := s.Compact(t.Context(), "doc", []byte(snapshot), upTo, changes); err != nil {
		t.Fatalf("Compact(%q, %d): %v", snapshot, upTo, err)
	}
}

// TestCorruptValues damages stored values through a raw bbolt handle and checks that reads
// fail with ErrCorrupt naming the document and key, without panicking.
func TestCorruptValues(t *testing.T) {
	chunk := []byte("an automerge change chunk")
	for _, tc := range []struct {
		name   string
		key    func(b *bolt.Bucket) (*bolt.Bucket, []byte) // the value to damage
		damage func(v []byte) []byte
		read   func(s *Store) error
	}{
		{"flipped payload byte", chunkAt(2), flip(headerLen + 3), load},
		{"flipped last byte", chunkAt(2), func(v []byte) []byte { v[len(v)-1] ^= 1; return v }, load},
		{"flipped crc byte", chunkAt(2), flip(6), load},
		{"flipped kind byte", chunkAt(1), flip(0), load},
		{"flipped length byte", chunkAt(1), flip(4), load},
		{"truncated by one byte", chunkAt(2), func(v []byte) []byte { return v[:len(v)-1] }, load},
		{"truncated to half", chunkAt(1), func(v []byte) []byte { return v[:len(v)/2] }, load},
		{"truncated inside header", chunkAt(1), func(v []byte) []byte { return v[:4] }, load},
		{"emptied", chunkAt(2), func(v []byte) []byte { return []byte{} }, load},
		{"extra byte", chunkAt(2), func(v []byte) []byte { return append(v, 0) }, load},
		{"wrong kind with valid crc", chunkAt(1), func(v []byte) []byte { return encodeValue(kindSyncState, v[headerLen:]) }, load},
		{"empty chunk with valid crc", chunkAt(1), func([]byte) []byte { return encodeValue(kindIncremental, nil) }, load},
		{"metadata for Meta", metaKey, flip(headerLen + 1), meta},
		{"metadata for List", metaKey, flip(headerLen + 1), list},
		{"metadata for Append", metaKey, flip(headerLen + 1), appendOne},
		{"short metadata", metaKey, func([]byte) []byte { return encodeValue(kindDocMeta, []byte("short")) }, meta},
		{"sync state", syncKey, flip(headerLen), loadSyncState},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := newTestStore(t, nil)
			mustAppend(t, s, "doc-1", chunk, 1)
			mustAppend(t, s, "doc-1", chunk, 1)
			if err := s.SaveSyncState(t.Context(), "doc-1", "peer", []byte("state")); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			var key []byte
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				b, k := tc.key(tx.Bucket(bucketDocs).Bucket([]byte("doc-1")))
				key = k
				v := b.Get(k)
				if v == nil {
					return fmt.Errorf("no value at %x", k)
				}
				return b.Put(k, tc.damage(bytes.Clone(v)))
			})
			s = openTestStore(t, path, nil)
			err := tc.read(s)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			for _, want := range []string{"doc doc-1", fmt.Sprintf("key %x", key)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			// The damage stays confined to its document.
			mustAppend(t, s, "doc-2", chunk, 1)
			if c := mustLoad(t, s, "doc-2"); len(c.Incrementals) != 1 {
				t.Errorf("doc-2: %d chunks", len(c.Incrementals))
			}
		})
	}
}

func chunkAt(seq uint64) func(b *bolt.Bucket) (*bolt.Bucket, []byte) {
	return func(b *bolt.Bucket) (*bolt.Bucket, []byte) { return b, chunkKey(seq) }
}

func metaKey(b *bolt.Bucket) (*bolt.Bucket, []byte) { return b, keyMeta }

func syncKey(b *bolt.Bucket) (*bolt.Bucket, []byte) { return b.Bucket(bucketSync), []byte("peer") }

func flip(i int) func(v []byte) []byte {
	return func(v []byte) []byte { v[i] ^= 0x40; return v }
}

func load(s *Store) error          { _, err := s.Load("doc-1"); return err }
func meta(s *Store) error          { _, err := s.Meta("doc-1"); return err }
func list(s *Store) error          { _, err := s.List("", 0); return err }
func loadSyncState(s *Store) error { _, err := s.LoadSyncState("doc-1", "peer"); return err }
func appendOne(s *Store) error {
	_, err := s.Append(context.Background(), "doc-1", []byte("more"), 1)
	return err
}
