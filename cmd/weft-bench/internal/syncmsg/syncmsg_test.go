package syncmsg_test

import (
	"testing"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/syncmsg"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// The parser reads what crdt builds, and a Replica applies what Build
// builds from received chunks, delivered in any order.
func TestSyncMessages(t *testing.T) {
	w := crdttest.NewReplica()
	var msgs [][]byte
	for i, s := range []string{"a", "b", "日", "😀"} {
		if err := w.SpliceText("text", i, 0, s); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, w.ChangeMessage())
	}
	var chunks [][]byte
	var prev []crdt.Hash
	for i, m := range msgs {
		sm, err := syncmsg.Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(sm.Heads) != 1 || len(sm.Changes) != 1 || sm.Changes[0].Hash != sm.Heads[0] {
			t.Fatalf("message %d: heads %v, %d changes", i, sm.Heads, len(sm.Changes))
		}
		if len(sm.Need) != 0 {
			t.Fatalf("message %d: need %v", i, sm.Need)
		}
		if i > 0 && (len(sm.Changes[0].Deps) != 1 || sm.Changes[0].Deps[0] != prev[0]) {
			t.Fatalf("message %d: deps %v, want %v", i, sm.Changes[0].Deps, prev)
		}
		prev = sm.Heads
		chunks = append(chunks, sm.Changes[0].Raw)
	}
	// Out of order: heads still come out right.
	hs := syncmsg.NewHeadSet(nil)
	for _, i := range []int{2, 0, 3, 1} {
		c, _ := syncmsg.ParseChange(chunks[i])
		if !hs.Add(c) {
			t.Fatal("new change reported as known")
		}
		if i == 3 && len(hs.List()) != 2 {
			t.Fatalf("after changes 2, 0, 3: heads %v", hs.List())
		}
	}
	c, _ := syncmsg.ParseChange(chunks[1])
	if hs.Add(c) {
		t.Fatal("known change reported as new")
	}
	if !crdt.Heads(hs.List()).Equal(w.Heads()) {
		t.Fatalf("heads %v, want %v", hs.List(), w.Heads())
	}
	r := crdttest.NewReplica()
	if err := r.ReceiveMessage(syncmsg.Build(hs.List(), chunks)); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Text("text"); got != "ab日😀" {
		t.Fatalf("text %q", got)
	}
	// An acknowledgement parses too; garbage and V2 do not.
	if sm, err := syncmsg.Parse(crdt.AckMessage(w.Heads())); err != nil || len(sm.Changes) != 0 {
		t.Fatalf("ack: %v", err)
	}
	for _, b := range [][]byte{nil, {0x43, 0}, {0x42, 5}, append([]byte{0x42, 0, 0, 0, 1, 3}, 1, 2, 3)} {
		if _, err := syncmsg.Parse(b); err == nil {
			t.Errorf("% x parsed", b)
		}
	}
	bad := append([]byte(nil), chunks[0]...)
	bad[len(bad)-1] ^= 1
	if _, err := syncmsg.ParseChange(bad); err == nil {
		t.Error("a change with a wrong checksum parsed")
	}
}
