package session_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage/testwait"
)

// TestDamagedChunkSetAside: a stored chunk that Automerge cannot load does
// not make the document unavailable. It opens with every chunk that loads,
// reports itself damaged, and the bad chunk is set aside in storage.
func TestDamagedChunkSetAside(t *testing.T) {
	met := &countMetrics{}
	e := newEnv(t, session.Config{Metrics: met})
	ctx := context.Background()
	x := crdt.NewDocumentID()
	src := newText(t, "kept")
	if _, err := e.store.Append(ctx, x, src.Save(), 1); err != nil {
		t.Fatal(err)
	}
	bad := []byte("\x85\x6f\x4a\x83 not an automerge chunk")
	if _, err := e.store.Append(ctx, x, bad, 1); err != nil {
		t.Fatal(err)
	}
	if err := src.SpliceText("text", 4, 0, " too"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Append(ctx, x, src.LastChange(), 1); err != nil {
		t.Fatal(err)
	}

	a := newSyncClient(e.join("peer-a"))
	a.open(x, crdttest.NewReplica())
	converged(t, x, "kept too", a)
	if d := e.m.Damage(x); d == "" {
		t.Fatal("the document is not reported damaged")
	}
	if n := met.count("damaged/load"); n != 1 {
		t.Fatalf("damaged documents counted %d, want 1", n)
	}
	aside, err := e.store.SetAsideChunks(x)
	if err != nil || len(aside) != 1 || !bytes.Equal(aside[0].Chunk, bad) {
		t.Fatalf("set aside: %+v, %v; want the bad chunk", aside, err)
	}
	// Compaction folds what loaded into a snapshot: the bad chunk leaves
	// the document's chunks (its copy stays set aside).
	testwait.For(t, waitTimeout, "the bad chunk to leave the document", func() error {
		chunks, err := e.store.Load(x)
		if err != nil {
			return err
		}
		for _, c := range append(chunks.Snapshots, chunks.Incrementals...) {
			if bytes.Equal(c, bad) {
				return errors.New("still stored")
			}
		}
		return nil
	})
	// Edits go on and are stored.
	a.edit(x, appendText("!"))
	converged(t, x, "kept too!", a)
}
