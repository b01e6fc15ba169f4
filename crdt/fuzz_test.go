package crdt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// FuzzReceive feeds sync messages to a document in a worker process: the
// worker may die (that is the point of it), this process must not, and
// every error must be one of the engine's sentinels.
func FuzzReceive(f *testing.F) {
	addSyncSeeds(f)
	f.Add([]byte{0x42, 0, 0, 1, 0, 0, 0, 2, 2, 0x84})
	p, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Shutdown() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, msg []byte) {
		if _, err := p.Open(ctx, "fuzz", nil); err != nil {
			t.Fatalf("open: %v", err)
		}
		_, err := p.Receive(ctx, crdt.Receive{Doc: "fuzz", Peer: "p", Msg: msg})
		if err != nil && !errors.Is(err, crdt.ErrBadMessage) && !errors.Is(err, crdt.ErrCrashed) &&
			!errors.Is(err, crdt.ErrTooLarge) && !errors.Is(err, crdt.ErrNotOpen) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

// addSyncSeeds adds the fuzz seeds every sync-message target starts from:
// a real first message and a hand-built one carrying a change. It returns
// the replica they came from.
func addSyncSeeds(f *testing.F) *crdttest.Replica {
	c := crdttest.NewReplica()
	c.SpliceText("text", 0, 0, "hello fuzz")
	msg, _ := c.GenerateMessage()
	f.Add(msg)
	f.Add(crdt.BuildMessage(c.Heads(), nil, [][]byte{c.LastChange()}))
	return c
}
