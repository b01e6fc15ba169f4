package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
)

// losingEngine forgets one document once, in View, as a worker that died
// and came back empty does: the document is gone and the call fails with
// crdt.ErrNotOpen.
type losingEngine struct {
	crdt.Engine
	doc   string
	armed atomic.Bool
}

func (l *losingEngine) View(ctx context.Context, v crdt.View) ([]byte, error) {
	if v.Doc == l.doc && l.armed.CompareAndSwap(true, false) {
		l.Engine.Close(ctx, v.Doc)
		return nil, fmt.Errorf("%w: %s (worker restarted)", crdt.ErrNotOpen, v.Doc)
	}
	return l.Engine.View(ctx, v)
}

// TestAPICallMeetsDeadWorker: an API call that meets a dead worker takes
// the one dead-worker path: it fails with ErrUnavailable, the document
// reloads from storage and its peers resync, staying connected.
func TestAPICallMeetsDeadWorker(t *testing.T) {
	x := crdt.NewDocumentID()
	eng := &losingEngine{Engine: crdt.NewLocal(nil), doc: x}
	e := newEnv(t, session.Config{Engine: eng})
	a := newSyncClient(e.join("peer-a"))
	b := newSyncClient(e.join("peer-b"))
	a.open(x, newText(t, "X:"))
	b.open(x, crdttest.NewReplica())
	a.edit(x, appendText("acked"))
	converged(t, x, "X:acked", a, b)

	eng.armed.Store(true)
	_, _, err := e.m.View(context.Background(), crdt.View{Doc: x})
	if !errors.Is(err, session.ErrUnavailable) || !errors.Is(err, crdt.ErrNotOpen) {
		t.Fatalf("View on a lost document: %v; want ErrUnavailable wrapping ErrNotOpen", err)
	}
	if _, _, err := e.m.View(context.Background(), crdt.View{Doc: x}); err != nil {
		t.Fatalf("View after the reload: %v", err)
	}
	a.edit(x, appendText(" again"))
	converged(t, x, "X:acked again", a, b)
	if a.isClosed() || b.isClosed() {
		t.Fatal("a peer was closed after the document reloaded")
	}
}
