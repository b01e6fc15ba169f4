package replay

import (
	"strings"
	"testing"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/syncmsg"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// A reader that missed a change, or holds the wrong text, is reported.
func TestCheckReaders(t *testing.T) {
	w := crdttest.NewReplica()
	if err := w.SpliceText("text", 0, 0, "ab"); err != nil {
		t.Fatal(err)
	}
	setup := w.Heads()
	newReader := func() *reader {
		r, err := crdttest.LoadReplica(w.Save())
		if err != nil {
			t.Fatal(err)
		}
		return &reader{r: r, hs: syncmsg.NewHeadSet(setup), want: 3}
	}
	readers := []*reader{newReader(), newReader(), newReader()}
	for i, s := range []string{"c", "d", "e"} {
		if err := w.SpliceText("text", 2+i, 0, s); err != nil {
			t.Fatal(err)
		}
		sm, err := syncmsg.Parse(w.ChangeMessage())
		if err != nil {
			t.Fatal(err)
		}
		for j, rd := range readers {
			if j == 1 && i == 2 {
				continue // reader 1 misses the last change
			}
			if rd.hs.Add(sm.Changes[0]) {
				rd.chunks = append(rd.chunks, sm.Changes[0].Raw)
				rd.got++
			}
		}
	}
	bad := checkReaders(readers, "abcde")
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "reader 1: 2 of 3") {
		t.Fatalf("diverged: %q", bad)
	}
	if bad := checkReaders(readers[:1], "abcdX"); len(bad) != 1 {
		t.Fatalf("wrong text not reported: %q", bad)
	}
}
