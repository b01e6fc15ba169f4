package crdt_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/weft-dev/weft/crdt"
)

// lastChange returns the newest change of c's document.
func lastChange(t *testing.T, c *client) []byte {
	t.Helper()
	ch, err := c.doc.Change(c.doc.Heads()[0])
	if err != nil {
		t.Fatal(err)
	}
	return ch.Save()
}

func TestMerge(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			e := mk(t)
			ctx := context.Background()
			const doc = "merge"
			if _, err := e.Open(ctx, doc, nil); err != nil {
				t.Fatal(err)
			}
			// A local peer in sync with the empty document.
			local := newClient(t, "")
			var stored bytes.Buffer
			syncPair(t, e, doc, "p", local, &stored)

			// Another node's whole document (a snapshot chunk).
			remote := newClient(t, "hello")
			res, err := e.Merge(ctx, crdt.Merge{Doc: doc, Data: remote.doc.Save(), Peers: []string{"p"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.NChanges != 1 || len(res.Others) != 1 || res.Waiting != 0 {
				t.Fatalf("snapshot merge: %d changes, %d messages, %d waiting; want 1, 1, 0", res.NChanges, len(res.Others), res.Waiting)
			}
			stored.Write(res.Changes)
			if _, err := local.ss.ReceiveMessage(res.Others[0].Msg); err != nil {
				t.Fatal(err)
			}
			syncPair(t, e, doc, "p", local, &stored)
			if got := local.text(t); got != "hello" {
				t.Fatalf("local peer has %q", got)
			}

			// Duplicates add nothing.
			res, err = e.Merge(ctx, crdt.Merge{Doc: doc, Data: remote.doc.Save(), Peers: []string{"p"}})
			if err != nil || res.NChanges != 0 || len(res.Others) != 0 {
				t.Fatalf("duplicate merge: %+v, %v", res, err)
			}

			// Two change chunks out of order: the second waits for the first.
			remote.edit(t, " one")
			c1 := lastChange(t, remote)
			remote.edit(t, " two")
			c2 := lastChange(t, remote)
			res, err = e.Merge(ctx, crdt.Merge{Doc: doc, Data: c2, Peers: []string{"p"}})
			if err != nil || res.NChanges != 0 || res.Waiting != 1 {
				t.Fatalf("out-of-order merge: %d changes, %d waiting, %v; want 0, 1", res.NChanges, res.Waiting, err)
			}
			res, err = e.Merge(ctx, crdt.Merge{Doc: doc, Data: c1, Peers: []string{"p"}})
			if err != nil || res.NChanges != 2 || res.Waiting != 0 {
				t.Fatalf("gap filled: %d changes, %d waiting, %v; want 2, 0", res.NChanges, res.Waiting, err)
			}
			stored.Write(res.Changes)
			for _, o := range res.Others {
				if _, err := local.ss.ReceiveMessage(o.Msg); err != nil {
					t.Fatal(err)
				}
			}
			syncPair(t, e, doc, "p", local, &stored)
			if got := local.text(t); got != "hello one two" {
				t.Fatalf("local peer has %q", got)
			}
			// What was reported is exactly what a fresh node needs.
			re, err := automerge.Load(remote.doc.Save())
			if err != nil {
				t.Fatal(err)
			}
			fresh := automerge.New()
			if err := fresh.LoadIncremental(stored.Bytes()); err != nil {
				t.Fatal(err)
			}
			if !crdt.DocHeads(fresh).Equal(crdt.DocHeads(re)) {
				t.Fatalf("stored changes give heads %v, want %v", crdt.DocHeads(fresh), crdt.DocHeads(re))
			}

			if _, err := e.Merge(ctx, crdt.Merge{Doc: doc, Data: []byte("not chunks")}); err == nil {
				t.Fatal("merge of garbage succeeded")
			}
		})
	}
}
