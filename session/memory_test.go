package session_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage/testwait"
)

// countMetrics counts evictions by reason, recovered panics ("panic/" +
// where) and damage ("damaged/" + what); the rest is ignored.
type countMetrics struct {
	mu      sync.Mutex
	evicted map[string]int
	opened  int
}

func (m *countMetrics) Evicted(reason string) { m.add(reason) }
func (m *countMetrics) Panicked(where string) { m.add("panic/" + where) }
func (m *countMetrics) Damaged(what string)   { m.add("damaged/" + what) }

func (m *countMetrics) add(reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.evicted == nil {
		m.evicted = map[string]int{}
	}
	m.evicted[reason]++
}

func (m *countMetrics) count(reason string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.evicted[reason]
}

func (m *countMetrics) DocOpened(time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.opened++
}

func (*countMetrics) MessageIn(string, int)      {}
func (*countMetrics) MessageOut(string, int)     {}
func (*countMetrics) Applied(time.Duration, int) {}
func (*countMetrics) Persisted(time.Duration)    {}
func (*countMetrics) DocClosed()                 {}
func (*countMetrics) EngineCrash()               {}
func (*countMetrics) Disconnect(int)             {}
func (*countMetrics) Limited(string)             {}
func (*countMetrics) Fanout(time.Duration)       {}

// editMany makes n edits to doc, one acknowledged round trip each, so
// that each lands in a batch (and a stored chunk) of its own.
func editMany(t *testing.T, c *syncClient, doc string, n int) string {
	t.Helper()
	want := c.text(doc)
	for i := 0; i < n; i++ {
		s := fmt.Sprintf(" e%d", i)
		c.edit(doc, appendText(s))
		want += s
		converged(t, doc, want, c)
	}
	return want
}

func waitLoaded(t *testing.T, m *session.Manager, doc string, want bool) {
	t.Helper()
	testwait.For(t, waitTimeout, fmt.Sprintf("%s loaded = %v", doc, want), func() error {
		if got := session.Loaded(m, doc); got != want {
			return fmt.Errorf("loaded = %v", got)
		}
		return nil
	})
}

// Over budget, the least recently used idle document is unloaded (and
// only as many as the budget needs); it reloads with all its changes.
// On synctest's fake clock: synctest.Wait lets everything settle, and the
// spacing between uses costs no real time.
func TestMemoryBudgetEvictsLRUIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		met := &countMetrics{}
		e := newEnv(t, session.Config{IdleUnload: time.Hour, Metrics: met})
		docs := []string{crdt.NewDocumentID(), crdt.NewDocumentID(), crdt.NewDocumentID()}
		a := newSyncClient(e.join("peer-a"))
		texts := map[string]string{}
		for _, doc := range docs {
			a.open(doc, newText(t, "doc "+doc))
			converged(t, doc, "doc "+doc, a)
			texts[doc] = editMany(t, a, doc, 5)
			time.Sleep(5 * time.Millisecond) // distinct last-use times (the LRU order)
		}
		// docs[0] is used again: docs[1] is now the least recently used.
		texts[docs[0]] = editMany(t, a, docs[0], 2)
		a.hangup()
		testwait.For(t, waitTimeout, "all three idle and measured", func() error {
			st := e.m.Memory()
			if len(st.PerDoc) != 3 || st.Total <= 0 {
				return fmt.Errorf("memory %+v", st)
			}
			return nil
		})
		synctest.Wait() // the leaves are reported

		// One byte under the total: one document must go, the LRU one.
		session.SetMemoryBudget(e.m, e.m.Memory().Total-1)
		waitLoaded(t, e.m, docs[1], false)
		synctest.Wait()
		if !session.Loaded(e.m, docs[0]) || !session.Loaded(e.m, docs[2]) {
			t.Fatalf("more documents unloaded than the budget needs: %d open", e.m.Stats().Docs)
		}
		testwait.For(t, waitTimeout, "budget eviction counted", func() error {
			if n := met.count("budget"); n != 1 {
				return fmt.Errorf("budget evictions = %d, want 1", n)
			}
			return nil
		})
		if st := e.m.Memory(); len(st.PerDoc) != 2 || st.Total > st.Budget {
			t.Fatalf("after eviction: %+v", st)
		}

		// The evicted document reloads from storage with every change.
		b := newSyncClient(e.join("peer-b"))
		b.open(docs[1], crdttest.NewReplica())
		converged(t, docs[1], texts[docs[1]], b)
		if !storedReplica(t, e.store, docs[1]).Heads().Equal(b.heads(docs[1])) {
			t.Fatal("stored heads differ from the reloaded document's")
		}
		if met.count("idle") != 0 {
			t.Fatalf("idle evictions = %d with IdleUnload of an hour", met.count("idle"))
		}
	})
}

// Documents with peers are never evicted, however far over budget; they
// go as soon as their last peer leaves.
// On synctest's fake clock (synctest.Wait: everything has settled).
func TestMemoryBudgetSparesDocumentsWithPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		met := &countMetrics{}
		e := newEnv(t, session.Config{IdleUnload: time.Hour, MemoryBudget: 1, Metrics: met})
		d1, d2, d3 := crdt.NewDocumentID(), crdt.NewDocumentID(), crdt.NewDocumentID()
		a := newSyncClient(e.join("peer-a"))
		b := newSyncClient(e.join("peer-b"))
		a.open(d1, newText(t, "one"))
		a.open(d2, newText(t, "two"))
		b.open(d3, newText(t, "three"))
		converged(t, d1, "one", a)
		converged(t, d2, "two", a)
		converged(t, d3, "three", b)
		editMany(t, a, d1, 3)
		editMany(t, b, d3, 3)
		synctest.Wait()
		if n := e.m.Stats().Docs; n != 3 {
			t.Fatalf("%d documents open, want 3: documents with peers were evicted", n)
		}
		if st := e.m.Memory(); st.Total <= st.Budget {
			t.Fatalf("memory %+v, want over budget", st)
		}

		a.hangup()
		waitLoaded(t, e.m, d1, false)
		waitLoaded(t, e.m, d2, false)
		synctest.Wait()
		if !session.Loaded(e.m, d3) {
			t.Fatal("a document with a peer was evicted")
		}
		testwait.For(t, waitTimeout, "budget evictions counted", func() error {
			if n := met.count("budget"); n != 2 {
				return fmt.Errorf("budget evictions = %d, want 2", n)
			}
			return nil
		})
		// b keeps working on its document.
		want := editMany(t, b, d3, 2)
		c := newSyncClient(e.join("peer-c"))
		c.open(d1, crdttest.NewReplica())
		converged(t, d1, "one e0 e1 e2", c)
		// With c on d1, the over-budget node still serves both.
		converged(t, d3, want, b)
	})
}

// waitSnapshot waits until doc is stored as one snapshot chunk.
func waitSnapshot(t *testing.T, e *env, doc, what string) {
	t.Helper()
	testwait.For(t, waitTimeout, what, func() error {
		c, err := e.store.Load(doc)
		if err != nil || len(c.Snapshots) != 1 || len(c.Incrementals) != 0 {
			return fmt.Errorf("%d snapshots, %d change chunks (%v)", len(c.Snapshots), len(c.Incrementals), err)
		}
		return nil
	})
}

// randomText does not compress: its snapshot outweighs small edits.
func randomText(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
	}
	return string(b)
}

// A document with more than maxIncrementals change chunks is compacted
// into one snapshot, even when its snapshot outweighs them.
func TestCompactManyChunks(t *testing.T) {
	restore := session.SetCompaction(time.Hour, 20)
	e := newEnv(t, session.Config{})
	t.Cleanup(restore) // after the Manager's shutdown
	doc := crdt.NewDocumentID()
	a := newSyncClient(e.join("peer-a"))
	a.open(doc, newText(t, randomText(50_000)))
	waitSnapshot(t, e, doc, "first compaction")
	editMany(t, a, doc, 30)
	waitSnapshot(t, e, doc, "compaction of many chunks")
	if !storedReplica(t, e.store, doc).Heads().Equal(a.heads(doc)) {
		t.Fatal("stored heads differ after compaction")
	}
}

// A document that loads slowly from several chunks is compacted after
// the load, so that the next load is one snapshot.
func TestCompactAfterSlowLoad(t *testing.T) {
	met := &countMetrics{}
	e := newEnv(t, session.Config{IdleUnload: 30 * time.Millisecond, Metrics: met})
	doc := crdt.NewDocumentID()
	a := newSyncClient(e.join("peer-a"))
	a.open(doc, newText(t, randomText(50_000)))
	waitSnapshot(t, e, doc, "first compaction")
	// A few small edits: below every size and count rule, and unloaded
	// before any quiet-time compaction could fold them.
	want := editMany(t, a, doc, 3)
	a.hangup()
	waitLoaded(t, e.m, doc, false)
	meta, err := e.store.Meta(doc)
	if err != nil || meta.Chunks != 4 {
		t.Fatalf("stored: %+v, %v; want 4 chunks", meta, err)
	}
	testwait.For(t, waitTimeout, "idle eviction counted", func() error {
		if n := met.count("idle"); n != 1 {
			return fmt.Errorf("idle evictions = %d, want 1", n)
		}
		return nil
	})

	// Every load is "slow" now (the Manager's goroutines are idle).
	defer session.SetCompaction(0, 256)()
	b := newSyncClient(e.join("peer-b"))
	b.open(doc, crdttest.NewReplica())
	converged(t, doc, want, b)
	waitSnapshot(t, e, doc, "compaction after a slow load")
}
