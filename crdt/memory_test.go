package crdt_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// TestMeasureMemory measures the factors behind Stats' estimate (resident
// bytes per byte loaded, per byte of changes applied). It runs on demand:
// WEFT_MEASURE=1 go test -run TestMeasureMemory -v ./crdt/
func TestMeasureMemory(t *testing.T) {
	if os.Getenv("WEFT_MEASURE") == "" {
		t.Skip("set WEFT_MEASURE=1")
	}
	r := crdttest.NewReplica()
	var changes [][]byte
	total := 0
	for i := 0; i < 20000; i++ {
		if err := r.SpliceText("text", i/2, 0, "ab"[i%2:i%2+1]); err != nil {
			t.Fatal(err)
		}
		c := r.LastChange()
		changes = append(changes, c)
		total += len(c)
	}
	saved := r.Save()
	runtime.GC()
	before := crdt.RSS()
	doc, err := automerge.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	after := crdt.RSS()
	t.Logf("load: %d bytes saved, RSS +%d: %.1f per byte", len(saved), after-before, float64(after-before)/float64(len(saved)))
	runtime.GC()
	before = crdt.RSS()
	inc := automerge.New()
	for _, c := range changes {
		if err := inc.LoadIncremental(c); err != nil {
			t.Fatal(err)
		}
	}
	after = crdt.RSS()
	t.Logf("changes: %d bytes in %d chunks, RSS +%d: %.1f per byte", total, len(changes), after-before, float64(after-before)/float64(total))
	runtime.KeepAlive(doc)
	runtime.KeepAlive(inc)

	// One big paste: few changes, many bytes.
	big := crdttest.NewReplica()
	for i := 0; i < 10; i++ {
		if err := big.SpliceText("text", 0, 0, string(make([]rune, 100000))); err != nil {
			t.Fatal(err)
		}
	}
	saved = big.Save()
	runtime.GC()
	before = crdt.RSS()
	doc, err = automerge.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	after = crdt.RSS()
	t.Logf("paste: %d bytes saved, RSS +%d: %.1f per byte", len(saved), after-before, float64(after-before)/float64(len(saved)))
	runtime.KeepAlive(doc)
}
