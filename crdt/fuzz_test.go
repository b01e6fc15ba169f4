package crdt

import (
	"context"
	"errors"
	"testing"
)

// FuzzReceive feeds sync messages to a document in a worker process: the
// worker may die (that is the point of it), this process must not, and
// every error must be one of the engine's sentinels.
func FuzzReceive(f *testing.F) {
	c := NewReplica()
	c.SpliceText("text", 0, 0, "hello fuzz")
	msg, _ := c.GenerateMessage()
	f.Add(msg)
	f.Add(buildMessage(c.Heads(), nil, [][]byte{c.LastChange()}))
	f.Add([]byte{0x42, 0, 0, 1, 0, 0, 0, 2, 2, 0x84})
	p, err := NewPool(&PoolOptions{Workers: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Shutdown() })
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, msg []byte) {
		if _, err := p.Open(ctx, "fuzz", nil); err != nil {
			t.Fatalf("open: %v", err)
		}
		_, err := p.Receive(ctx, Receive{Doc: "fuzz", Peer: "p", Msg: msg})
		if err != nil && !errors.Is(err, ErrBadMessage) && !errors.Is(err, ErrCrashed) &&
			!errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNotOpen) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
