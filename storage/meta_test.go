package storage

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestMeta(t *testing.T) {
	s, _ := newTestStore(t, nil)
	before := time.Now().UTC()
	mustAppend(t, s, "doc", []byte("abc"), 2)
	m1, err := s.Meta("doc")
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "doc", []byte("defg"), 3)
	m2, err := s.Meta("doc")
	if err != nil {
		t.Fatal(err)
	}
	want := DocMeta{ID: "doc", Created: m1.Created, Updated: m2.Updated, Size: 7, Changes: 5, Chunks: 2}
	if m2 != want {
		t.Errorf("Meta = %+v, want %+v", m2, want)
	}
	if m1.Created.Before(before.Add(-time.Second)) || m2.Updated.Before(m1.Updated) || m1.Created != m1.Updated {
		t.Errorf("times: created %v, first update %v, second update %v (test began %v)", m1.Created, m1.Updated, m2.Updated, before)
	}
	if m2.Created.Location() != time.UTC {
		t.Errorf("Created in %v, want UTC", m2.Created.Location())
	}
	if err := s.SaveSyncState(t.Context(), "doc", "peer", []byte("state")); err != nil {
		t.Fatal(err)
	}
	if m3, _ := s.Meta("doc"); m3 != m2 {
		t.Errorf("SaveSyncState changed Meta: %+v, was %+v", m3, m2)
	}
	s = reopen(t, s, nil)
	if m, err := s.Meta("doc"); err != nil || m != m2 {
		t.Errorf("after reopen Meta = %+v, %v; want %+v", m, err, m2)
	}
}

func TestListPaging(t *testing.T) {
	s, _ := newTestStore(t, nil)
	if docs, err := s.List("", 10); err != nil || len(docs) != 0 {
		t.Fatalf("List of an empty store = %v, %v", docs, err)
	}
	var ids []string
	for _, i := range []int{7, 3, 11, 0, 5, 9, 1, 10, 2, 8, 4, 6} { // out of order on purpose
		id := fmt.Sprintf("doc-%02d", i)
		ids = append(ids, id)
		mustAppend(t, s, id, []byte(id), i)
	}
	slices.Sort(ids)

	for _, tc := range []struct {
		name  string
		after string
		limit int
		want  []string
	}{
		{"all, no limit", "", 0, ids},
		{"negative limit", "", -1, ids},
		{"first page", "", 5, ids[:5]},
		{"middle page", ids[4], 5, ids[5:10]},
		{"last page short", ids[9], 5, ids[10:]},
		{"after the last", ids[11], 5, nil},
		{"after a missing id", "doc-03a", 2, ids[4:6]},
		{"after past everything", "zzz", 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs, err := s.List(tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range docs {
				got = append(got, d.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("List(%q, %d) = %v, want %v", tc.after, tc.limit, got, tc.want)
			}
		})
	}

	t.Run("walk all pages", func(t *testing.T) {
		var got []string
		after := ""
		for {
			page, err := s.List(after, 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, d := range page {
				got = append(got, d.ID)
				if d.Size != int64(len(d.ID)) || d.Chunks != 1 || fmt.Sprintf("doc-%02d", d.Changes) != d.ID {
					t.Errorf("List entry %+v", d)
				}
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, ids) {
			t.Errorf("pages = %v, want %v", got, ids)
		}
	})
}

func TestDelete(t *testing.T) {
	s, _ := newTestStore(t, nil)
	ctx := t.Context()
	for _, id := range []string{"a", "b", "c"} {
		mustAppend(t, s, id, []byte(id+"1"), 1)
		mustAppend(t, s, id, []byte(id+"2"), 1)
		if err := s.SaveSyncState(ctx, id, "peer", []byte("state")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "b"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	check := func(t *testing.T, s *Store) {
		t.Helper()
		if ok, err := s.Exists("b"); ok || err != nil {
			t.Errorf("Exists(b) = %v, %v after Delete", ok, err)
		}
		if _, err := s.Load("b"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Load(b): err = %v, want ErrNotFound", err)
		}
		if _, err := s.Meta("b"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Meta(b): err = %v, want ErrNotFound", err)
		}
		if _, err := s.LoadSyncState("b", "peer"); !errors.Is(err, ErrNotFound) {
			t.Errorf("LoadSyncState(b): err = %v, want ErrNotFound", err)
		}
		docs, err := s.List("", 0)
		if err != nil || len(docs) != 2 || docs[0].ID != "a" || docs[1].ID != "c" {
			t.Errorf("List = %+v, %v; want a, c", docs, err)
		}
		for _, id := range []string{"a", "c"} {
			if ok, err := s.Exists(id); !ok || err != nil {
				t.Errorf("Exists(%s) = %v, %v", id, ok, err)
			}
		}
	}
	check(t, s)
	s = reopen(t, s, nil)
	check(t, s)
	if err := s.Delete(ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	if seq := mustAppend(t, s, "b", []byte("new"), 1); seq != 1 {
		t.Errorf("Append after Delete got seq %d, want 1", seq)
	}
	if m, err := s.Meta("b"); err != nil || m.Chunks != 1 || m.Changes != 1 || m.Size != 3 {
		t.Errorf("Meta(b) after re-creation = %+v, %v", m, err)
	}
}

func TestSyncStates(t *testing.T) {
	s, _ := newTestStore(t, nil)
	ctx := t.Context()
	mustAppend(t, s, "doc", []byte("x"), 1)
	mustAppend(t, s, "other", []byte("x"), 1)
	for _, tc := range []struct {
		name, doc, peer, state string
	}{
		{"first peer", "doc", "peer-1", "s1"},
		{"second peer", "doc", "peer-2", "s2"},
		{"overwrite", "doc", "peer-1", "s1-new"},
		{"same peer other doc", "other", "peer-1", "o1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SaveSyncState(ctx, tc.doc, tc.peer, []byte(tc.state)); err != nil {
				t.Fatalf("SaveSyncState: %v", err)
			}
			if got, err := s.LoadSyncState(tc.doc, tc.peer); err != nil || string(got) != tc.state {
				t.Errorf("LoadSyncState = %q, %v; want %q", got, err, tc.state)
			}
		})
	}
	s = reopen(t, s, nil)
	for _, w := range []struct{ doc, peer, state string }{
		{"doc", "peer-1", "s1-new"}, {"doc", "peer-2", "s2"}, {"other", "peer-1", "o1"},
	} {
		if got, err := s.LoadSyncState(w.doc, w.peer); err != nil || string(got) != w.state {
			t.Errorf("after reopen LoadSyncState(%s, %s) = %q, %v; want %q", w.doc, w.peer, got, err, w.state)
		}
	}
	// Sync states do not count as chunks.
	if c := mustLoad(t, s, "doc"); len(c.Incrementals) != 1 || len(c.Snapshots) != 0 {
		t.Errorf("Load(doc) = %d incrementals, %d snapshots", len(c.Incrementals), len(c.Snapshots))
	}
	// Compact keeps sync states.
	if err := s.Compact(ctx, "doc", []byte("snap"), 1, 1); err != nil {
		t.Fatal(err)
	}
	if got, err := s.LoadSyncState("doc", "peer-2"); err != nil || string(got) != "s2" {
		t.Errorf("after Compact LoadSyncState = %q, %v", got, err)
	}
}
