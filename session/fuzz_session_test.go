package session_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
)

// FuzzSession feeds arbitrary sync, request and ephemeral payloads, and
// HTTP-sync messages, through the server's real session code in this
// process: a Manager over a bbolt store in a temporary directory, with its
// documents in worker processes. After every input the document still
// serves, nothing panicked (not even a panic recovered), and what the
// store holds for it still loads.
func FuzzSession(f *testing.F) {
	src := newText(f, "honest text")
	if err := src.SpliceText("text", 0, 0, ">"); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), []byte{0x42, 0x01})
	f.Add(uint8(3), []byte{0x42, 0x01})
	f.Add(uint8(0), src.ChangeMessage())
	f.Add(uint8(1), crdt.AckMessage(nil))
	f.Add(uint8(2), []byte{0xa1, 0x61, 0x78, 0x01})
	f.Add(uint8(3), src.ChangeMessage())

	pool, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { pool.Shutdown() })
	met := &countMetrics{}
	e := newEnv(f, session.Config{Engine: pool, Metrics: met, StrikeLimit: 1 << 30})
	x := crdt.NewDocumentID()
	if _, err := e.store.Append(context.Background(), x, src.Save(), 2); err != nil {
		f.Fatal(err)
	}
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		ctx := context.Background()
		et := *e
		et.t = t
		c := et.join(fmt.Sprintf("fuzz-%d", n.Add(1)))
		switch kind % 4 {
		case 0:
			c.send(session.Message{Type: session.TypeSync, DocumentID: x, Data: data})
		case 1:
			c.send(session.Message{Type: session.TypeRequest, DocumentID: x, Data: data})
		case 2:
			c.send(session.Message{Type: session.TypeEphemeral, DocumentID: x, Data: data, SessionID: "s", Count: 1})
		case 3:
			e.m.SyncHTTP(ctx, session.SyncRequest{Doc: x, Peer: "http-fuzz", Messages: [][]byte{data}, Reset: true})
		}
		// An API read runs on the document's goroutine after the input.
		if _, _, err := e.m.View(ctx, crdt.View{Doc: x, Path: "/text", Text: true}); err != nil {
			t.Fatalf("the document no longer serves: %v", err)
		}
		if p := met.count("panic/document") + met.count("panic/client"); p > 0 {
			t.Fatalf("%d panics recovered handling this input", p)
		}
		r, err := loadStored(e.store, x)
		if err != nil {
			t.Fatalf("the stored document no longer loads: %v", err)
		}
		if r == nil || len(r.Heads()) == 0 {
			t.Fatal("the stored document lost its content")
		}
		c.hangup()
	})
}
