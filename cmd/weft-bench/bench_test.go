package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
)

// synthTrace makes a sequential trace of n transactions over code points
// beyond ASCII and the BMP: single inserts and deletes, a few multi-patch
// transactions and a no-op, with endContent computed independently (on
// a []rune).
func synthTrace(n int, seed uint64) *Trace {
	rng := rand.New(rand.NewPCG(seed, 1))
	alphabet := []rune("abcdefgh é日本😀\n")
	t := &Trace{StartContent: "héllo 😀 wörld"}
	doc := []rune(t.StartContent)
	apply := func(p Patch) {
		doc = append(doc[:p.Pos], append([]rune(p.Insert), doc[p.Pos+p.Del:]...)...)
	}
	randPatch := func() Patch {
		if len(doc) > 0 && rng.IntN(4) == 0 {
			pos := rng.IntN(len(doc))
			return Patch{Pos: pos, Del: 1 + rng.IntN(min(3, len(doc)-pos))}
		}
		s := string(alphabet[rng.IntN(len(alphabet))])
		if rng.IntN(10) == 0 {
			s += string(alphabet[rng.IntN(len(alphabet))])
		}
		return Patch{Pos: rng.IntN(len(doc) + 1), Insert: s}
	}
	for i := 0; i < n; i++ {
		var tx Txn
		k := 1
		switch {
		case i == n/2:
			k = 0 // a transaction without patches
		case i%17 == 5:
			k = 3
		}
		for range k {
			p := randPatch()
			apply(p)
			tx.Patches = append(tx.Patches, p)
		}
		t.Txns = append(t.Txns, tx)
	}
	t.EndContent = string(doc)
	return t
}

func writeTrace(t *testing.T, tr *Trace, gz bool) string {
	t.Helper()
	type jt struct {
		StartContent string `json:"startContent"`
		EndContent   string `json:"endContent"`
		Txns         []struct {
			Time    string  `json:"time"`
			Patches [][]any `json:"patches"`
		} `json:"txns"`
	}
	out := jt{StartContent: tr.StartContent, EndContent: tr.EndContent}
	for _, tx := range tr.Txns {
		var j struct {
			Time    string  `json:"time"`
			Patches [][]any `json:"patches"`
		}
		j.Time = "2021-05-12T04:01:04.000Z"
		j.Patches = [][]any{}
		for _, p := range tx.Patches {
			j.Patches = append(j.Patches, []any{p.Pos, p.Del, p.Insert})
		}
		out.Txns = append(out.Txns, j)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trace.json")
	if gz {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		b, path = buf.Bytes(), path+".gz"
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadTraceAndPlan(t *testing.T) {
	want := synthTrace(400, 7)
	for _, gz := range []bool{false, true} {
		tr, err := LoadTrace(writeTrace(t, want, gz))
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
				if doc, err = splice(doc, e.Pos, e.Del, e.Insert); err != nil {
					t.Fatal(err)
				}
			}
			ref := []rune(tr.StartContent)
			for _, tx := range tr.Txns[:n] {
				for _, pa := range tx.Patches {
					ref, _ = splice(ref, pa.Pos, pa.Del, pa.Insert)
				}
			}
			if string(doc) != p.Expected || p.Expected != string(ref) {
				t.Fatalf("prefix %d: edits give %q, plan says %q, patches give %q", n, string(doc), p.Expected, string(ref))
			}
		}
	}
}

func TestPlanCodePoints(t *testing.T) {
	tr := &Trace{StartContent: "a😀c", Txns: []Txn{
		{Patches: []Patch{{Pos: 2, Del: 1, Insert: "日"}}},                                // a😀日
		{Patches: []Patch{{Pos: 1, Del: 1}, {Pos: 1, Del: 0, Insert: "é😀"}}},             // aé😀日
		{Patches: []Patch{{Pos: 0, Del: 0, Insert: "x"}, {Pos: 0, Del: 1}}},              // no-op
		{Patches: []Patch{{Pos: 4, Del: 0, Insert: "!"}, {Pos: 0, Del: 1, Insert: "A"}}}, // Aé😀日!
	}}
	tr.EndContent = "Aé😀日!"
	p, err := tr.Plan(0)
	if err != nil {
		t.Fatal(err)
	}
	want := []Edit{{2, 1, "日"}, {1, 0, "é"}, {0, 4, "Aé😀日!"}}
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
	bad := &Trace{Txns: []Txn{{Patches: []Patch{{Pos: 1, Del: 0, Insert: "x"}}}}}
	if _, err := bad.Plan(0); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("out-of-range patch: %v", err)
	}
}

func TestDiff(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want Edit
	}{
		{"abc", "abc", Edit{3, 0, ""}},
		{"abc", "abxc", Edit{2, 0, "x"}},
		{"aaa", "aaaa", Edit{3, 0, "a"}},
		{"héllo", "hello", Edit{1, 1, "e"}},
		{"", "日本", Edit{0, 0, "日本"}},
		{"日本", "", Edit{0, 2, ""}},
	} {
		if got := diff([]rune(c.a), []rune(c.b)); got != c.want {
			t.Errorf("diff(%q, %q) = %+v, want %+v", c.a, c.b, got, c.want)
		}
	}
}

func TestConcurrentTraceRejected(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(path, []byte(`{"startContent":"","endContent":"a","txns":[{"agent":0,"parents":[],"patches":[[0,0,"a"]]}]}`), 0o644)
	if _, err := LoadTrace(path); err == nil || !strings.Contains(err.Error(), "concurrent") {
		t.Fatalf("concurrent trace: %v", err)
	}
}

func TestPercentile(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.1, 1}, {99.5, 100}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("p%g of 1..100 = %d, want %d", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one value = %d", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %d", got)
	}
	three := []time.Duration{1, 2, 3}
	if percentile(three, 50) != 2 || percentile(three, 99) != 3 {
		t.Errorf("p50/p99 of 1,2,3 = %d/%d", percentile(three, 50), percentile(three, 99))
	}
}

// The parser reads what crdt builds, and a Replica applies what buildSync
// builds from received chunks, delivered in any order.
func TestSyncMessages(t *testing.T) {
	w := crdt.NewReplica()
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
		sm, err := parseSync(m)
		if err != nil {
			t.Fatal(err)
		}
		if len(sm.heads) != 1 || len(sm.changes) != 1 || sm.changes[0].hash != sm.heads[0] {
			t.Fatalf("message %d: heads %v, %d changes", i, sm.heads, len(sm.changes))
		}
		if len(sm.need) != 0 {
			t.Fatalf("message %d: need %v", i, sm.need)
		}
		if i > 0 && (len(sm.changes[0].deps) != 1 || sm.changes[0].deps[0] != prev[0]) {
			t.Fatalf("message %d: deps %v, want %v", i, sm.changes[0].deps, prev)
		}
		prev = sm.heads
		chunks = append(chunks, sm.changes[0].raw)
	}
	// Out of order: heads still come out right.
	hs := newHeadSet(nil)
	for _, i := range []int{2, 0, 3, 1} {
		c, _ := parseChange(chunks[i])
		if !hs.add(c) {
			t.Fatal("new change reported as known")
		}
		if i == 3 && len(hs.list()) != 2 {
			t.Fatalf("after changes 2, 0, 3: heads %v", hs.list())
		}
	}
	c, _ := parseChange(chunks[1])
	if hs.add(c) {
		t.Fatal("known change reported as new")
	}
	if !crdt.Heads(hs.list()).Equal(w.Heads()) {
		t.Fatalf("heads %v, want %v", hs.list(), w.Heads())
	}
	r := crdt.NewReplica()
	if err := r.ReceiveMessage(buildSync(hs.list(), chunks)); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Text("text"); got != "ab日😀" {
		t.Fatalf("text %q", got)
	}
	// An acknowledgement parses too; garbage and V2 do not.
	if sm, err := parseSync(crdt.AckMessage(w.Heads())); err != nil || len(sm.changes) != 0 {
		t.Fatalf("ack: %v", err)
	}
	for _, b := range [][]byte{nil, {0x43, 0}, {0x42, 5}, append([]byte{0x42, 0, 0, 0, 1, 3}, 1, 2, 3)} {
		if _, err := parseSync(b); err == nil {
			t.Errorf("% x parsed", b)
		}
	}
	bad := append([]byte(nil), chunks[0]...)
	bad[len(bad)-1] ^= 1
	if _, err := parseChange(bad); err == nil {
		t.Error("a change with a wrong checksum parsed")
	}
}

func TestCheckURL(t *testing.T) {
	for _, u := range []string{"ws://127.0.0.1:8080/", "ws://localhost:1/x", "wss://[::1]:9/", "ws://127.3.4.5/"} {
		if err := checkURL(u, false); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"ws://10.0.0.1/", "ws://example.com/", "http://127.0.0.1/", "ws://192.168.1.1:80/"} {
		if err := checkURL(u, false); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if err := checkURL("ws://10.0.0.1/", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}

func TestProcStats(t *testing.T) {
	pid := os.Getpid()
	p, err := readProc(pid)
	if err != nil || p.rss <= 0 || p.ppid <= 0 {
		t.Fatalf("readProc(self) = %+v, %v", p, err)
	}
	s, err := startSampler(pid, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(150 * time.Millisecond); time.Now().Before(end); {
	}
	cpu, peak, procs, err := s.Stop()
	if err != nil || cpu <= 0 || peak < p.rss/2 || procs < 1 {
		t.Fatalf("sampler: cpu %v, peak %d, procs %d, %v", cpu, peak, procs, err)
	}
	if _, err := readProc(1 << 30); err == nil {
		t.Fatal("a pid that cannot exist was read")
	}
}

// The shared traces replay to their endContent (skipped where ../shared is
// not beside the repository).
func TestSharedTraces(t *testing.T) {
	for _, name := range []string{"automerge-paper.json.gz", "seph-blog1.json.gz"} {
		path := filepath.Join("..", "..", "..", "shared", "data", name)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s: %v", name, err)
		}
		tr, err := LoadTrace(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Plan(0); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// A reader that missed a change, or holds the wrong text, is reported.
func TestCheckReaders(t *testing.T) {
	w := crdt.NewReplica()
	if err := w.SpliceText("text", 0, 0, "ab"); err != nil {
		t.Fatal(err)
	}
	setup := w.Heads()
	newReader := func() *reader {
		r, err := crdt.LoadReplica(w.Save())
		if err != nil {
			t.Fatal(err)
		}
		return &reader{r: r, hs: newHeadSet(setup), want: 3}
	}
	readers := []*reader{newReader(), newReader(), newReader()}
	for i, s := range []string{"c", "d", "e"} {
		if err := w.SpliceText("text", 2+i, 0, s); err != nil {
			t.Fatal(err)
		}
		sm, err := parseSync(w.ChangeMessage())
		if err != nil {
			t.Fatal(err)
		}
		for j, rd := range readers {
			if j == 1 && i == 2 {
				continue // reader 1 misses the last change
			}
			if rd.hs.add(sm.changes[0]) {
				rd.chunks = append(rd.chunks, sm.changes[0].raw)
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
