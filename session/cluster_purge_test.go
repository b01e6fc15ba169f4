package session_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/jsstore"
	"github.com/weft-dev/weft/storage/testwait"
)

// lossy drops the chunks its follows deliver while drop is set, as a compaction's purge does
// to a follow that had not reached them yet (one restarted late, or lagging); with markers
// set, it drops every entry (a follow that stalled).
type lossy struct {
	*jsstore.Store
	drop, markers atomic.Bool
}

func (l *lossy) Follow(doc string, after uint64, f func(storage.Logged)) (func(), error) {
	return l.Store.Follow(doc, after, func(e storage.Logged) {
		if !l.drop.Load() || e.Chunk == nil && !l.markers.Load() {
			f(e)
		}
	})
}

// lossyPair is two nodes, node 1's store a lossy one, alice on node 0 and bob on node 1
// in sync on a new document holding "x", and a third Store (a writer that compacts).
func lossyPair(t *testing.T) (lo *lossy, other *jsstore.Store, doc string, a, b *syncClient) {
	t.Helper()
	c := newCluster(t, 1)
	lo = &lossy{}
	c.addWith(t, "node-1", func(st *jsstore.Store) session.Store { lo.Store = st; return lo })
	other = c.store(t)
	doc = crdt.NewDocumentID()
	a = c.client(t, 0, "alice")
	a.open(doc, newText(t, "x"))
	converged(t, doc, "x", a)
	b = c.client(t, 1, "bob")
	b.open(doc, crdttest.NewReplica())
	converged(t, doc, "x", a, b)
	return lo, other, doc, a, b
}

// sharedSnapshot is what st holds of doc, as chunks and as a replica.
func sharedSnapshot(t *testing.T, st *jsstore.Store, doc string) (storage.Chunks, *crdttest.Replica) {
	t.Helper()
	chunks, err := st.Load(doc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := crdttest.LoadReplica(chunks.Concat())
	if err != nil {
		t.Fatal(err)
	}
	return chunks, r
}

// A node whose follow lost chunks to another node's compaction, and then received later
// entries (its own edit's chunk) before that compaction's marker, still catches up: the
// marker's heads tell it that it lacks part of the snapshot (TestClusterStaleCompactionRefused
// covers its own compaction meanwhile).
func TestClusterFollowerMissingPurgedChunksCatchesUp(t *testing.T) {
	lo, other, doc, a, b := lossyPair(t)

	lo.drop.Store(true)
	a.edit(doc, appendText("abc"))
	testwait.Until(t, waitTimeout, "alice's edit stored", func() bool { return storedText(t, other, doc) == "xabc" })
	chunks, snap := sharedSnapshot(t, other, doc)
	lo.drop.Store(false)
	b.edit(doc, appendText("B")) // node 1's own chunk, after the ones it lost
	var final string             // alice's and bob's concurrent insertions after x, in Automerge's order
	testwait.Until(t, waitTimeout, "bob's edit stored", func() bool {
		final = storedText(t, other, doc)
		return len(final) == 5
	})
	if got := b.text(doc); got != "xB" {
		t.Fatalf("bob has %q before the compaction, want xB (node 1 lost alice's chunk)", got)
	}
	if err := other.CompactShared(t.Context(), doc, snap.Save(), chunks.LastSeq, 2, 0, snap.Heads().String()); err != nil {
		t.Fatal(err)
	}
	converged(t, doc, final, a, b)
	testwait.For(t, waitTimeout, "the stored copy", func() error {
		if got := storedText(t, other, doc); got != final {
			return fmt.Errorf("stored %q", got)
		}
		return nil
	})
}

// A node whose follow stalled before another node's compaction (it got neither the purged
// chunks nor the marker) and that then compacts, holding less than the stored snapshot, is
// refused (it would replace that snapshot by one that lacks them): it catches up from the
// store instead, and nothing is lost.
func TestClusterStaleCompactionRefused(t *testing.T) {
	lo, other, doc, a, b := lossyPair(t)

	lo.markers.Store(true)
	lo.drop.Store(true) // for good: node 1 learns nothing more from its follow
	a.edit(doc, appendText("abc"))
	testwait.Until(t, waitTimeout, "alice's edit stored", func() bool { return storedText(t, other, doc) == "xabc" })
	chunks, snap := sharedSnapshot(t, other, doc)
	if err := other.CompactShared(t.Context(), doc, snap.Save(), chunks.LastSeq, 2, 0, snap.Heads().String()); err != nil {
		t.Fatal(err)
	}
	b.edit(doc, appendText("B")) // node 1 writes, so it compacts at its next quiet second
	var final string
	testwait.Until(t, waitTimeout, "bob's edit stored", func() bool {
		final = storedText(t, other, doc)
		return len(final) == 5
	})
	converged(t, doc, final, a, b) // only node 1's refused compaction's catch-up brings abc to bob
	restore := storedText(t, other, doc)
	if restore != final {
		t.Fatalf("stored %q after node 1's compaction, want %q", restore, final)
	}
}
