package crdt_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// loadableSeed returns a document's bytes and a sync message that carries
// two further changes to it (as a peer behind by two would be sent).
func loadableSeed(t *testing.T) (base, msg []byte) {
	t.Helper()
	src := crdttest.NewReplica()
	if err := src.SpliceText("text", 0, 0, "hello world, this is honest"); err != nil {
		t.Fatal(err)
	}
	base = src.Save()
	dst, err := crdttest.LoadReplica(base)
	if err != nil {
		t.Fatal(err)
	}
	src.SpliceText("text", 5, 0, " there")
	src.SpliceText("text", 0, 1, "J")
	dst.SpliceText("text", 3, 0, "zz")
	for range 6 {
		m, ok := src.GenerateMessage()
		if !ok {
			break
		}
		if n, _ := crdt.MessageChanges(m); n > 0 {
			return base, m
		}
		dst.ReceiveMessage(m)
		if r, ok := dst.GenerateMessage(); ok {
			src.ReceiveMessage(r)
		}
	}
	t.Fatal("no change-carrying message")
	return nil, nil
}

// TestMutatedChangesStayLoadable applies mutated change-carrying messages
// (the stress test's mutator) in a worker, and for each one accepted
// stores what it reported as storage would, then reopens it: every
// accepted message must leave the document loadable at the heads it
// reported, and the check compaction makes of its snapshot (Probe) must
// pass only snapshots that load back at the same heads.
func TestMutatedChangesStayLoadable(t *testing.T) {
	p, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	ctx := context.Background()
	base, seed := loadableSeed(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var accepted, damaged, crashed int
	for range 1500 {
		msg := crdttest.MutateSyncMessage(rng, seed)
		openRetry(t, p, "d", base)
		res, err := p.Receive(ctx, crdt.Receive{Doc: "d", Peer: "p", Msg: msg})
		if errors.Is(err, crdt.ErrCrashed) {
			crashed++
			continue
		}
		if err != nil || !res.Changed() {
			continue
		}
		accepted++
		stored := append(bytes.Clone(base), res.Changes...)
		openRetry(t, p, "reopened", stored)
		if hs, err := p.Heads(ctx, "reopened"); err != nil || !hs.Equal(res.Heads) {
			t.Fatalf("reopened from storage at %v (%v), the accepted document was at %v", hs, err, res.Heads)
		}
		snap, err := p.Save(ctx, "d")
		if err != nil {
			t.Fatalf("save: %v", err)
		}
		if err := p.Probe(ctx, snap, crdt.AckMessage(nil)); err != nil {
			damaged++
			continue
		}
		openRetry(t, p, "snapshot", snap)
		if hs, err := p.Heads(ctx, "snapshot"); err != nil || !hs.Equal(res.Heads) {
			t.Fatalf("a snapshot the check passed loads at %v (%v), not %v", hs, err, res.Heads)
		}
	}
	t.Logf("accepted %d (of which %d cannot be snapshotted), crashed %d", accepted, damaged, crashed)
	if accepted == 0 {
		t.Fatal("no mutated message was accepted: the test exercised nothing")
	}
}

// openRetry opens a document, waiting out a worker restart.
func openRetry(t *testing.T, p *crdt.Pool, doc string, data []byte) {
	t.Helper()
	for range 200 {
		_, err := p.Open(context.Background(), doc, data)
		if err == nil {
			return
		}
		if !errors.Is(err, crdt.ErrCrashed) && !errors.Is(err, crdt.ErrClosed) {
			t.Fatalf("open %s: %v", doc, err)
		}
	}
	t.Fatalf("open %s: the worker did not come back", doc)
}

// TestForgedSeqRefused: a change whose actor was rewritten (its checksum
// fixed) claims seq 2 of an actor the document has never seen. automerge-rs
// 0.5.0 would apply it and then write snapshots that do not load.
func TestForgedSeqRefused(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			e := mk(t)
			src := crdttest.NewReplica()
			src.SpliceText("text", 0, 0, "one")
			base := src.Save()
			src.SpliceText("text", 3, 0, " two")
			c := bytes.Clone(src.LastChange())
			forgeActor(t, c)
			ctx := context.Background()
			if _, err := e.Open(ctx, "d", base); err != nil {
				t.Fatal(err)
			}
			_, err := e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "p", Msg: crdt.BuildMessage(src.Heads(), nil, [][]byte{c})})
			if !errors.Is(err, crdt.ErrBadMessage) || !strings.Contains(err.Error(), "seq 2, not 1") {
				t.Fatalf("forged change: got %v, want ErrBadMessage (seq 2, not 1)", err)
			}
			// The honest change itself is accepted, even twice in a message
			// (catch-up answers from several nodes overlap).
			twice := [][]byte{src.LastChange(), src.LastChange()}
			res, err := e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "p", Msg: crdt.BuildMessage(src.Heads(), nil, twice)})
			if err != nil || !res.Changed() {
				t.Fatalf("honest change: %v (changed %v)", err, res.Changed())
			}
		})
	}
}

// forgeActor flips a byte of a change chunk's actor id and fixes its
// checksum.
func forgeActor(t *testing.T, c []byte) {
	t.Helper()
	r := crdt.NewReader(c, 9)
	r.Uleb()
	body := r.Off()
	br := crdt.NewReader(c, body)
	br.Hashes()
	n := br.Uleb()
	if br.Err() != nil || n == 0 {
		t.Fatal("no actor in change")
	}
	c[br.Off()] ^= 0xff
	crdt.FixChecksum(c)
}
