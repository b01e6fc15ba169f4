package crdt_test

import (
	"bytes"
	"context"
	"testing"
)

// A peer whose sync state the server saved (automerge-repo clients with a
// storageId) comes back with its data lost but its storage id kept: a
// fresh sync state and an empty document. The server must not trust the
// saved shared heads over what the peer now says it has.
func TestReturningPeerThatLostItsData(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			e := mk(t)
			ctx := context.Background()
			const doc = "doc"
			if _, err := e.Open(ctx, doc, nil); err != nil {
				t.Fatal(err)
			}
			var stored bytes.Buffer
			c := newClient(t, "hello")
			syncPair(t, e, doc, "p#1", c, &stored)
			c.edit(t, " world")
			syncPair(t, e, doc, "p#1", c, &stored)
			state, err := e.PeerState(ctx, doc, "p#1")
			if err != nil {
				t.Fatal(err)
			}
			if err := e.DropPeer(ctx, doc, "p#1"); err != nil {
				t.Fatal(err)
			}
			// Same storage id, new connection, nothing left locally.
			if err := e.SetPeer(ctx, doc, "p#2", state); err != nil {
				t.Fatal(err)
			}
			fresh := newClient(t, "")
			syncPair(t, e, doc, "p#2", fresh, &stored)
			if got := fresh.text(t); got != "hello world" {
				t.Fatalf("the returning peer has %q, want the server's %q", got, "hello world")
			}
		})
	}
}
