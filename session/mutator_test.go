package session_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage/testwait"
)

// acceptedMutants mutates valid (a change-carrying message for a document
// stored as base) with the stress test's mutator and keeps up to n that a
// scratch worker accepts and applies: the ones that reach storage.
func acceptedMutants(t *testing.T, base, valid []byte, n int) [][]byte {
	t.Helper()
	var out [][]byte
	scanMutants(t, base, valid, rand.NewPCG(3, 5), func(msg []byte, res crdt.Result, err error) bool {
		if err == nil && res.Changed() {
			out = append(out, msg)
		}
		return len(out) == n
	})
	if len(out) == 0 {
		t.Fatal("no mutant was accepted")
	}
	return out
}

// TestMutatorKeepsDocumentsLoadable: mutated sync messages that the server
// accepts and persists, each followed by the document being unloaded and
// reopened from storage. Every time, it opens, and every honest edit is in.
func TestMutatorKeepsDocumentsLoadable(t *testing.T) {
	honest := newText(t, "honest:")
	base := honest.Save()
	evilSrc, err := crdttest.LoadReplica(base)
	if err != nil {
		t.Fatal(err)
	}
	if err := evilSrc.SpliceText("text", 0, 0, "E"); err != nil {
		t.Fatal(err)
	}
	mutants := acceptedMutants(t, base, evilSrc.ChangeMessage(), 12)

	pool, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Shutdown() })
	e := newEnv(t, session.Config{Engine: pool, IdleUnload: 20 * time.Millisecond})
	x := crdt.NewDocumentID()
	r := honest
	for i, msg := range mutants {
		a := newSyncClient(e.join(fmt.Sprintf("honest-%d", i)))
		r.ResetSync()
		a.open(x, r)
		if i > 0 {
			// The server may hold the last mutant's accepted change, which r
			// lacks: catch up first, or want would race that sync.
			stored, _, err := e.m.View(context.Background(), crdt.View{Doc: x, Path: "/text", Text: true})
			if err != nil {
				t.Fatalf("mutant %d: reading the stored text: %v", i-1, err)
			}
			converged(t, x, string(stored), a)
		}
		a.edit(x, appendText(fmt.Sprintf("%d,", i)))
		want := a.text(x)
		converged(t, x, want, a)

		evil := e.join(fmt.Sprintf("evil-%d", i))
		evil.send(session.Message{Type: session.TypeSync, DocumentID: x, Data: msg})
		evil.next() // its answer: a reply, or an error before a close
		evil.hangup()
		a.hangup()
		testwait.For(t, waitTimeout, "the document to unload", func() error {
			if session.Loaded(e.m, x) {
				return errors.New("still loaded")
			}
			return nil
		})
		if _, err := loadStored(e.store, x); err != nil {
			t.Fatalf("mutant %d: the stored document does not load: %v", i, err)
		}
		// Reopened from storage: every honest edit is there.
		a.mu.Lock()
		r = a.docs[x]
		a.mu.Unlock()
		view, _, err := e.m.View(context.Background(), crdt.View{Doc: x, Path: "/text", Text: true})
		if err != nil {
			t.Fatalf("mutant %d: reopening: %v", i, err)
		}
		for j := 0; j <= i; j++ {
			if !strings.Contains(string(view), fmt.Sprintf("%d,", j)) {
				t.Fatalf("mutant %d: honest edit %d is missing from %q", i, j, view)
			}
		}
	}
	if d := e.m.Damage(x); d != "" {
		t.Logf("the document is reported damaged: %s", d)
	}
}
