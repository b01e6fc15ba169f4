package webhook_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage"
)

// TestManagerChangesBecomeOneDelivery wires a Dispatcher to a real
// Manager (bbolt store, Local engine) as serve does, and uploads two
// batches of changes within one debounce window.
func TestManagerChangesBecomeOneDelivery(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := session.NewManager(session.Config{Store: st, Engine: crdt.NewLocal(nil)})
	if err != nil {
		t.Fatal(err)
	}
	rcv := newReceiver(t, nil)
	cfg := fast(webhook.Hook{URL: rcv.url, Secret: secret})
	cfg.Debounce = 500 * time.Millisecond
	d := webhook.New(cfg, nil)
	cancel := m.Subscribe("", d.Handle)

	ctx := context.Background()
	id := crdt.NewDocumentID()
	r := crdttest.NewReplica()
	r.SpliceText("text", 0, 0, "one")
	if _, _, err := m.Upload(ctx, id, r.Save()); err != nil {
		t.Fatal(err)
	}
	r.SpliceText("text", 3, 0, " two")
	r.SpliceText("text", 7, 0, " three")
	if _, _, err := m.Upload(ctx, id, r.Save()); err != nil {
		t.Fatal(err)
	}
	rs := rcv.wait(1)
	p := rs[0].payload
	if !rs[0].ok || p.Type != "change" || p.DocumentID != id {
		t.Fatalf("delivery %s", rs[0].body)
	}
	if !p.Heads.Equal(r.Heads()) || len(p.Changes) != 3 {
		t.Errorf("heads %v (want %v), %d changes (want 3): %s", p.Heads, r.Heads(), len(p.Changes), rs[0].body)
	}
	for i, c := range p.Changes {
		if c.Seq != uint64(i+1) {
			t.Errorf("change %d has seq %d: out of order", i, c.Seq)
		}
	}

	sctx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	if err := m.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := d.Close(sctx); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.requests()); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}
