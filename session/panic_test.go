package session_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
)

// TestTwoByteSyncMessage: a sync message whose data is a V1 header that
// announces one head and ends (0x42 0x01) used to panic in the server's own
// parser and take the process down. Its sender gets an error and a close;
// the peers of that document and of others go on as if nothing happened.
func TestTwoByteSyncMessage(t *testing.T) {
	pool, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Shutdown() })
	e := newEnv(t, session.Config{Engine: pool})
	x := crdt.NewDocumentID()
	a := newSyncClient(e.join("peer-a"))
	b := newSyncClient(e.join("peer-b"))
	a.open(x, newText(t, "hello"))
	b.open(x, crdttest.NewReplica())
	converged(t, x, "hello", a, b)

	for _, doc := range []string{x, crdt.NewDocumentID()} {
		evil := e.join("peer-evil")
		evil.send(session.Message{Type: session.TypeSync, DocumentID: doc, Data: []byte{0x42, 0x01}})
		if m := evil.next(); m.Type != session.TypeError || !strings.Contains(m.Message, "malformed") {
			t.Fatalf("two-byte message: got %+v, want an error naming a malformed message", m)
		}
		evil.expectClose(session.CloseBadSyncMessage)
	}
	if a.isClosed() || b.isClosed() {
		t.Fatal("an honest peer was closed")
	}
	a.edit(x, appendText(" world"))
	converged(t, x, "hello world", a, b)
}

// panicEngine panics once in Receive for one document: a stand-in for a bug
// of weft's own on the document's goroutine.
type panicEngine struct {
	crdt.Engine
	doc   string
	armed atomic.Bool
}

func (p *panicEngine) Receive(ctx context.Context, r crdt.Receive) (crdt.Result, error) {
	if r.Doc == p.doc && p.armed.CompareAndSwap(true, false) {
		panic("deliberate panic in " + r.Doc)
	}
	return p.Engine.Receive(ctx, r)
}

func (p *panicEngine) ReceiveAll(ctx context.Context, rs []crdt.Receive) ([]crdt.Result, []error, error) {
	if len(rs) > 0 && rs[0].Doc == p.doc && p.armed.CompareAndSwap(true, false) {
		panic("deliberate panic in " + rs[0].Doc)
	}
	return p.Engine.ReceiveAll(ctx, rs)
}

// TestPanicInOneDocument: a panic while handling one document's message
// closes that document's peers with a reconnect code, and they resync with
// everything acknowledged before it; another document's peers see nothing.
func TestPanicInOneDocument(t *testing.T) {
	x, y := crdt.NewDocumentID(), crdt.NewDocumentID()
	eng := &panicEngine{Engine: crdt.NewLocal(nil), doc: x}
	met := &countMetrics{}
	e := newEnv(t, session.Config{Engine: eng, Metrics: met})
	a := newSyncClient(e.join("peer-a"))
	b := newSyncClient(e.join("peer-b"))
	c := newSyncClient(e.join("peer-c"))
	a.open(x, newText(t, "X:"))
	b.open(x, crdttest.NewReplica())
	c.open(y, newText(t, "Y:"))
	converged(t, x, "X:", a, b)
	a.edit(x, appendText("acked"))
	converged(t, x, "X:acked", a, b)

	eng.armed.Store(true)
	a.edit(x, appendText("!"))
	a.expectClose(session.CloseInternal)
	b.expectClose(session.CloseInternal)
	if met.count("panic/document") != 1 {
		t.Fatalf("recovered panics counted %d, want 1", met.count("panic/document"))
	}
	if c.isClosed() {
		t.Fatal("a peer of another document was closed")
	}
	c.expectSilence(100 * time.Millisecond)
	c.edit(y, appendText("still here"))
	converged(t, y, "Y:still here", c)

	// The peers reconnect, as automerge-repo clients do, and resync from
	// storage: the acknowledged edit is there.
	a2 := newSyncClient(e.join("peer-a"))
	b2 := newSyncClient(e.join("peer-b"))
	a.mu.Lock()
	ra := a.docs[x]
	a.mu.Unlock()
	ra.ResetSync() // a new connection starts a new sync state
	a2.open(x, ra)
	b2.open(x, crdttest.NewReplica())
	want := a.text(x)
	converged(t, x, want, a2, b2)
	if !strings.HasPrefix(want, "X:acked") {
		t.Fatalf("after the panic the document reads %q", want)
	}
	if _, _, err := e.m.View(context.Background(), crdt.View{Doc: x}); err != nil {
		t.Fatalf("API read after the panic: %v", err)
	}
}

// blockingEngine's Receive waits for its context: a stand-in for an engine
// call that would not return by itself.
type blockingEngine struct {
	crdt.Engine
	once            sync.Once
	entered, gaveUp chan struct{}
}

func (b *blockingEngine) block(ctx context.Context) error {
	b.once.Do(func() { close(b.entered) })
	<-ctx.Done()
	close(b.gaveUp)
	return ctx.Err()
}

func (b *blockingEngine) Receive(ctx context.Context, _ crdt.Receive) (crdt.Result, error) {
	return crdt.Result{}, b.block(ctx)
}

func (b *blockingEngine) ReceiveAll(ctx context.Context, rs []crdt.Receive) ([]crdt.Result, []error, error) {
	return nil, nil, b.block(ctx)
}

// TestShutdownBoundsCallsInFlight: when Shutdown's context ends first, the
// engine call a document is waiting on is cancelled too.
func TestShutdownBoundsCallsInFlight(t *testing.T) {
	eng := &blockingEngine{Engine: crdt.NewLocal(nil), entered: make(chan struct{}), gaveUp: make(chan struct{})}
	e := newEnv(t, session.Config{Engine: eng})
	a := e.join("peer-a")
	a.send(session.Message{Type: session.TypeSync, DocumentID: crdt.NewDocumentID(), Data: crdt.AckMessage(nil)})
	select {
	case <-eng.entered:
	case <-time.After(waitTimeout):
		t.Fatal("the sync message never reached the engine")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.m.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown returned before the blocked call ended")
	}
	select {
	case <-eng.gaveUp:
	case <-time.After(waitTimeout):
		t.Fatal("the engine call in flight was not cancelled by Shutdown")
	}
}
