package crdt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// A burst of keystrokes in one ReceiveAll reaches each live reader as one
// message carrying every change, and the writer gets one acknowledgement
// of the last heads: the burst costs each peer one frame.
func TestReceiveAllCoalesces(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := mk(t)
			openSetup(t, e, "d")
			w, r1, r2 := crdttest.NewReplica(), crdttest.NewReplica(), crdttest.NewReplica()
			for k, r := range map[string]*crdttest.Replica{"w": w, "r1": r1, "r2": r2} {
				syncReplica(t, e, "d", k, r)
			}
			others := []string{"r1", "r2"}
			var rs []crdt.Receive
			for _, s := range []string{"a", "b", "c", "d", "e"} {
				if err := w.SpliceText("text", 0, 0, s); err != nil {
					t.Fatal(err)
				}
				rs = append(rs, crdt.Receive{Doc: "d", Peer: "w", Msg: w.ChangeMessage(), Others: others})
			}
			// A reader's acknowledgement in the middle changes nothing.
			rs = append(rs[:2], append([]crdt.Receive{{Doc: "d", Peer: "r1", Msg: crdt.AckMessage(r1.Heads()), Others: []string{"w", "r2"}}}, rs[2:]...)...)
			results, errs, err := e.ReceiveAll(ctx, rs)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][][]byte{}
			for i, res := range results {
				if errs[i] != nil {
					t.Fatalf("message %d: %v", i, errs[i])
				}
				if res.Reply != nil {
					got[rs[i].Peer] = append(got[rs[i].Peer], res.Reply)
				}
				for _, o := range res.Others {
					got[o.Peer] = append(got[o.Peer], o.Msg)
				}
			}
			final := w.Heads()
			for _, k := range []string{"r1", "r2"} {
				if len(got[k]) != 1 {
					t.Fatalf("%s got %d messages, want 1", k, len(got[k]))
				}
				if n, err := crdt.MessageChanges(got[k][0]); err != nil || n != 5 {
					t.Fatalf("%s's message carries %d changes (%v), want 5", k, n, err)
				}
				if hs, _ := crdt.MessageHeads(got[k][0]); !hs.Equal(final) {
					t.Fatalf("%s's message advertises %v, want %v", k, hs, final)
				}
			}
			if len(got["w"]) != 1 {
				t.Fatalf("writer got %d messages, want one acknowledgement", len(got["w"]))
			}
			if hs, _ := crdt.MessageHeads(got["w"][0]); !hs.Equal(final) {
				t.Fatalf("writer's acknowledgement says %v, want %v", hs, final)
			}
			for k, r := range map[string]*crdttest.Replica{"r1": r1, "r2": r2} {
				if err := r.ReceiveMessage(got[k][0]); err != nil {
					t.Fatal(err)
				}
				if !r.Heads().Equal(final) {
					t.Fatalf("%s at %v after the burst, want %v", k, r.Heads(), final)
				}
				// Its acknowledgement keeps it on the live path: the next
				// keystroke goes to it directly again.
				syncReplica(t, e, "d", k, r)
			}
			if err := w.SpliceText("text", 0, 0, "f"); err != nil {
				t.Fatal(err)
			}
			res, err := e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "w", Msg: w.ChangeMessage(), Others: others})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Others) != 2 || string(res.Others[0].Msg) != string(res.Others[1].Msg) {
				t.Fatalf("after the burst: %d messages to readers, want the same direct message to both", len(res.Others))
			}
			if txt := view(t, e, crdt.View{Doc: "d", Path: "/text", Text: true}); txt != "fedcbahello world" {
				t.Fatalf("engine text %q", txt)
			}
		})
	}
}

// A message Automerge refuses fails the later messages of the same peer in
// the batch, unapplied (the caller disconnects that peer), while other
// peers' messages go through.
func TestReceiveAllRefusesAfterBadMessage(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := mk(t)
			openSetup(t, e, "d")
			w, v := crdttest.NewReplica(), crdttest.NewReplica()
			syncReplica(t, e, "d", "w", w)
			syncReplica(t, e, "d", "v", v)
			if err := w.SpliceText("text", 0, 0, "x"); err != nil {
				t.Fatal(err)
			}
			good := w.ChangeMessage()
			if err := w.SpliceText("text", 0, 0, "y"); err != nil {
				t.Fatal(err)
			}
			later := w.ChangeMessage()
			if err := v.SpliceText("text", 0, 0, "v"); err != nil {
				t.Fatal(err)
			}
			rs := []crdt.Receive{
				{Doc: "d", Peer: "w", Msg: good},
				{Doc: "d", Peer: "w", Msg: []byte{0x42, 1, 2, 3}},
				{Doc: "d", Peer: "v", Msg: v.ChangeMessage()},
				{Doc: "d", Peer: "w", Msg: later},
			}
			results, errs, err := e.ReceiveAll(ctx, rs)
			if err != nil {
				t.Fatal(err)
			}
			if errs[0] != nil || errs[2] != nil {
				t.Fatalf("good messages refused: %v, %v", errs[0], errs[2])
			}
			if !errors.Is(errs[1], crdt.ErrBadMessage) || !errors.Is(errs[3], crdt.ErrBadMessage) {
				t.Fatalf("errors %v and %v, want ErrBadMessage for both", errs[1], errs[3])
			}
			if results[3].NChanges != 0 {
				t.Fatalf("the refused peer's later message added %d changes", results[3].NChanges)
			}
			if txt := view(t, e, crdt.View{Doc: "d", Path: "/text", Text: true}); txt != "vxhello world" && txt != "xvhello world" {
				t.Fatalf("engine text %q, want x and v applied and y not", txt)
			}
		})
	}
}
