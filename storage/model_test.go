package storage

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the in-memory reference the Store is compared with.
type model struct {
	docs map[string]*modelDoc
}

type modelDoc struct {
	chunks  map[uint64]modelChunk
	seq     uint64 // last sequence number handed out (the bucket sequence)
	changes int
	sync    map[string]string
}

type modelChunk struct {
	snapshot bool
	data     string
}

// TestModel runs seeded random sequences of Append, Compact, SaveSyncState, Delete and reopen
// against a Store and an in-memory model, and compares everything readable after every step.
func TestModel(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runModel(t, seed, 250)
		})
	}
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	opts := &Options{NoSync: true} // durability is not under test here
	s, _ := newTestStore(t, opts)
	ctx := t.Context()
	m := model{docs: map[string]*modelDoc{}}
	docIDs := []string{"a", "b", "c", "d"}
	peers := []string{"p1", "p2"}
	payload := func() string {
		return fmt.Sprintf("%016x", rng.Uint64())[:1+rng.IntN(16)]
	}

	for step := range steps {
		id := docIDs[rng.IntN(len(docIDs))]
		d := m.docs[id]
		var op string
		switch r := rng.IntN(100); {
		case r < 55:
			data, n := payload(), rng.IntN(5)
			op = fmt.Sprintf("Append(%s, %q, %d)", id, data, n)
			seq, err := s.Append(ctx, id, []byte(data), n)
			if err != nil {
				t.Fatalf("step %d %s: %v", step, op, err)
			}
			if d == nil {
				d = &modelDoc{chunks: map[uint64]modelChunk{}, sync: map[string]string{}}
				m.docs[id] = d
			}
			d.seq++
			d.chunks[d.seq] = modelChunk{data: data}
			d.changes += n
			if seq != d.seq {
				t.Fatalf("step %d %s: seq %d, model says %d", step, op, seq, d.seq)
			}
		case r < 75:
			var last uint64
			if d != nil {
				last = d.seq
			}
			upTo := rng.Uint64N(last + 2) // sometimes one beyond: invalid
			data, total := payload(), rng.IntN(100)
			op = fmt.Sprintf("Compact(%s, %q, %d, %d)", id, data, upTo, total)
			err := s.Compact(ctx, id, []byte(data), upTo, total)
			if upTo > last {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("step %d %s (last %d): err = %v, want ErrInvalid", step, op, last, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d %s: %v", step, op, err)
			}
			if d == nil {
				d = &modelDoc{chunks: map[uint64]modelChunk{}, sync: map[string]string{}}
				m.docs[id] = d
			}
			for seq := range d.chunks {
				if seq <= upTo {
					delete(d.chunks, seq)
				}
			}
			d.chunks[upTo] = modelChunk{snapshot: true, data: data}
			d.changes = total
		case r < 87:
			peer, data := peers[rng.IntN(len(peers))], payload()
			op = fmt.Sprintf("SaveSyncState(%s, %s, %q)", id, peer, data)
			err := s.SaveSyncState(ctx, id, peer, []byte(data))
			if d == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("step %d %s: err = %v, want ErrNotFound", step, op, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d %s: %v", step, op, err)
			}
			d.sync[peer] = data
		case r < 95:
			op = fmt.Sprintf("Delete(%s)", id)
			err := s.Delete(ctx, id)
			if d == nil {
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("step %d %s: err = %v, want ErrNotFound", step, op, err)
				}
				break
			}
			if err != nil {
				t.Fatalf("step %d %s: %v", step, op, err)
			}
			delete(m.docs, id)
		default:
			op = "reopen"
			s = reopen(t, s, opts)
		}
		m.compare(t, s, fmt.Sprintf("step %d after %s", step, op), docIDs, peers)
	}
}

// compare checks every document, sync state and the listing against the model.
func (m model) compare(t *testing.T, s *Store, where string, docIDs, peers []string) {
	t.Helper()
	for _, id := range docIDs {
		d := m.docs[id]
		c, err := s.Load(id)
		if d == nil {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: Load(%s) err = %v, want ErrNotFound", where, id, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: Load(%s): %v", where, id, err)
		}
		var snaps, incs []string
		var size int64
		seqs := slices.Sorted(maps.Keys(d.chunks))
		for _, seq := range seqs {
			ch := d.chunks[seq]
			if ch.snapshot {
				snaps = append(snaps, ch.data)
			} else {
				incs = append(incs, ch.data)
			}
			size += int64(len(ch.data))
		}
		if gs, gi := byteStrings(c.Snapshots), byteStrings(c.Incrementals); !slices.Equal(gs, snaps) || !slices.Equal(gi, incs) {
			t.Fatalf("%s: Load(%s) = %q %q, model %q %q", where, id, gs, gi, snaps, incs)
		}
		if c.LastSeq != seqs[len(seqs)-1] || c.Bytes != size {
			t.Fatalf("%s: Load(%s) LastSeq %d Bytes %d, model %d %d", where, id, c.LastSeq, c.Bytes, seqs[len(seqs)-1], size)
		}
		meta, err := s.Meta(id)
		if err != nil {
			t.Fatalf("%s: Meta(%s): %v", where, id, err)
		}
		if meta.Size != size || meta.Changes != d.changes || meta.Chunks != len(d.chunks) {
			t.Fatalf("%s: Meta(%s) = %+v, model size %d changes %d chunks %d", where, id, meta, size, d.changes, len(d.chunks))
		}
		for _, p := range peers {
			got, err := s.LoadSyncState(id, p)
			want, ok := d.sync[p]
			switch {
			case !ok && !errors.Is(err, ErrNotFound):
				t.Fatalf("%s: LoadSyncState(%s, %s) = %q, %v; model has none", where, id, p, got, err)
			case ok && (err != nil || string(got) != want):
				t.Fatalf("%s: LoadSyncState(%s, %s) = %q, %v; model %q", where, id, p, got, err, want)
			}
		}
	}
	list, err := s.List("", 0)
	if err != nil {
		t.Fatalf("%s: List: %v", where, err)
	}
	var got []string
	for _, d := range list {
		got = append(got, d.ID)
	}
	if want := slices.Sorted(maps.Keys(m.docs)); !slices.Equal(got, want) {
		t.Fatalf("%s: List = %v, model %v", where, got, want)
	}
}
