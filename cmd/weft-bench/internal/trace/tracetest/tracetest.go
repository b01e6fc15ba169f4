// Package tracetest makes synthetic traces for the tests of weft-bench's
// packages and writes them in the shared traces' file format.
package tracetest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace"
)

// Synth makes a sequential trace of n transactions over code points
// beyond ASCII and the BMP: single inserts and deletes, a few multi-patch
// transactions and a no-op, with endContent computed independently (on
// a []rune).
func Synth(n int, seed uint64) *trace.Trace {
	rng := rand.New(rand.NewPCG(seed, 1))
	alphabet := []rune("abcdefgh é日本😀\n")
	t := &trace.Trace{StartContent: "héllo 😀 wörld"}
	doc := []rune(t.StartContent)
	apply := func(p trace.Patch) {
		doc = append(doc[:p.Pos], append([]rune(p.Insert), doc[p.Pos+p.Del:]...)...)
	}
	randPatch := func() trace.Patch {
		if len(doc) > 0 && rng.IntN(4) == 0 {
			pos := rng.IntN(len(doc))
			return trace.Patch{Pos: pos, Del: 1 + rng.IntN(min(3, len(doc)-pos))}
		}
		s := string(alphabet[rng.IntN(len(alphabet))])
		if rng.IntN(10) == 0 {
			s += string(alphabet[rng.IntN(len(alphabet))])
		}
		return trace.Patch{Pos: rng.IntN(len(doc) + 1), Insert: s}
	}
	for i := 0; i < n; i++ {
		var tx trace.Txn
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

// Write writes tr as a trace file in a temporary directory of the test,
// gzipped if gz, and returns its path.
func Write(t testing.TB, tr *trace.Trace, gz bool) string {
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
