package trace_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace/tracetest"
)

func TestLoadTraceAndPlan(t *testing.T) {
	want := tracetest.Synth(400, 7)
	for _, gz := range []bool{false, true} {
		tr, err := trace.Load(tracetest.Write(t, want, gz))
		if err != nil {
			t.Fatal(err)
		}
		if tr.StartContent != want.StartContent || tr.EndContent != want.EndContent || len(tr.Txns) != len(want.Txns) {
			t.Fatalf("gz=%v: trace read back differs", gz)
		}
		if tr.Txns[0].Patches[0] != want.Txns[0].Patches[0] {
			t.Fatalf("gz=%v: patch %+v, want %+v", gz, tr.Txns[0].Patches[0], want.Txns[0].Patches[0])
		}
		// The whole trace: Plan checks endContent itself.
		p, err := tr.Plan(0)
		if err != nil {
			t.Fatal(err)
		}
		if p.Expected != want.EndContent || p.Txns != 400 {
			t.Fatalf("whole trace: %d txns, text %q", p.Txns, p.Expected)
		}
		// The no-op transaction is skipped, every other one is one edit.
		if len(p.Edits) != 399 {
			t.Fatalf("%d edits, want 399", len(p.Edits))
		}
		// Replaying the single splices gives the same text at every prefix.
		for _, n := range []int{1, 5, 6, 22, 200, 400} {
			p, err := tr.Plan(n)
			if err != nil {
				t.Fatal(err)
			}
			doc := []rune(tr.StartContent)
			for _, e := range p.Edits {
				if doc, err = trace.Splice(doc, e.Pos, e.Del, e.Insert); err != nil {
					t.Fatal(err)
				}
			}
			ref := []rune(tr.StartContent)
			for _, tx := range tr.Txns[:n] {
				for _, pa := range tx.Patches {
					ref, _ = trace.Splice(ref, pa.Pos, pa.Del, pa.Insert)
				}
			}
			if string(doc) != p.Expected || p.Expected != string(ref) {
				t.Fatalf("prefix %d: edits give %q, plan says %q, patches give %q", n, string(doc), p.Expected, string(ref))
			}
		}
	}
}

func TestPlanCodePoints(t *testing.T) {
	tr := &trace.Trace{StartContent: "a😀c", Txns: []trace.Txn{
		{Patches: []trace.Patch{{Pos: 2, Del: 1, Insert: "日"}}},                                // a😀日
		{Patches: []trace.Patch{{Pos: 1, Del: 1}, {Pos: 1, Del: 0, Insert: "é😀"}}},             // aé😀日
		{Patches: []trace.Patch{{Pos: 0, Del: 0, Insert: "x"}, {Pos: 0, Del: 1}}},              // no-op
		{Patches: []trace.Patch{{Pos: 4, Del: 0, Insert: "!"}, {Pos: 0, Del: 1, Insert: "A"}}}, // Aé😀日!
	}}
	tr.EndContent = "Aé😀日!"
	p, err := tr.Plan(0)
	if err != nil {
		t.Fatal(err)
	}
	want := []trace.Edit{{Pos: 2, Del: 1, Insert: "日"}, {Pos: 1, Del: 0, Insert: "é"}, {Pos: 0, Del: 4, Insert: "Aé😀日!"}}
	if len(p.Edits) != len(want) {
		t.Fatalf("edits %+v, want %+v", p.Edits, want)
	}
	for i := range want {
		if p.Edits[i] != want[i] {
			t.Fatalf("edit %d: %+v, want %+v", i, p.Edits[i], want[i])
		}
	}
	tr.EndContent = "wrong"
	if _, err := tr.Plan(0); err == nil {
		t.Fatal("a trace whose patches do not give endContent was accepted")
	}
	bad := &trace.Trace{Txns: []trace.Txn{{Patches: []trace.Patch{{Pos: 1, Del: 0, Insert: "x"}}}}}
	if _, err := bad.Plan(0); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("out-of-range patch: %v", err)
	}
}

func TestDiff(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want trace.Edit
	}{
		{"abc", "abc", trace.Edit{Pos: 3, Del: 0, Insert: ""}},
		{"abc", "abxc", trace.Edit{Pos: 2, Del: 0, Insert: "x"}},
		{"aaa", "aaaa", trace.Edit{Pos: 3, Del: 0, Insert: "a"}},
		{"héllo", "hello", trace.Edit{Pos: 1, Del: 1, Insert: "e"}},
		{"", "日本", trace.Edit{Pos: 0, Del: 0, Insert: "日本"}},
		{"日本", "", trace.Edit{Pos: 0, Del: 2, Insert: ""}},
	} {
		if got := trace.Diff([]rune(c.a), []rune(c.b)); got != c.want {
			t.Errorf("diff(%q, %q) = %+v, want %+v", c.a, c.b, got, c.want)
		}
	}
}

func TestConcurrentTraceRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(path, []byte(`{"startContent":"","endContent":"a","txns":[{"agent":0,"parents":[],"patches":[[0,0,"a"]]}]}`), 0o644)
	if _, err := trace.Load(path); err == nil || !strings.Contains(err.Error(), "concurrent") {
		t.Fatalf("concurrent trace: %v", err)
	}
}

// The shared traces replay to their endContent (skipped where ../shared is
// not beside the repository).
func TestSharedTraces(t *testing.T) {
	for _, name := range []string{"automerge-paper.json.gz", "seph-blog1.json.gz"} {
		path := filepath.Join("..", "..", "..", "..", "..", "shared", "data", name)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s: %v", name, err)
		}
		tr, err := trace.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Plan(0); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
