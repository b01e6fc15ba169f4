package crdt_test

import (
	"context"
	"testing"

	"github.com/weft-dev/weft/crdt"
)

// Contains answers whether every given head (and so its history) is in the document:
// yes for current and past heads, no for a head it lacks or a change it never got.
func TestContains(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := mk(t)
			openSetup(t, e, "a")
			past, _ := e.Heads(ctx, "a")
			res := mustEdit(t, e, crdt.Edit{Doc: "a", Ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 0, Insert: "x"}}})
			// b holds only the setup change.
			snap, _ := e.Save(ctx, "a")
			if _, err := e.Open(ctx, "b", nil); err != nil {
				t.Fatal(err)
			}
			openSetup(t, e, "c")
			for _, c := range []struct {
				doc  string
				hs   crdt.Heads
				want bool
			}{
				{"a", past, true},
				{"a", res.Heads, true},
				{"a", nil, true},
				{"a", crdt.Heads{{7}}, false},
				{"a", append(crdt.Heads{{7}}, res.Heads...), false},
				{"b", res.Heads, false},
				{"c", res.Heads, false}, // the same edit elsewhere is another change
			} {
				got, err := e.Contains(ctx, c.doc, c.hs)
				if err != nil || got != c.want {
					t.Errorf("Contains(%s, %v) = %v, %v; want %v", c.doc, c.hs, got, err, c.want)
				}
			}
			if _, err := e.Open(ctx, "b", snap); err != nil {
				t.Fatal(err)
			}
			if ok, err := e.Contains(ctx, "b", res.Heads); !ok || err != nil {
				t.Errorf("after loading a's snapshot: Contains = %v, %v", ok, err)
			}
			if _, err := e.Contains(ctx, "nope", res.Heads); err == nil {
				t.Error("Contains on a closed document: no error")
			}
		})
	}
}
