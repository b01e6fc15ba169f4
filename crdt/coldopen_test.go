package crdt_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// BenchmarkColdOpen loads the automerge-paper document with its full
// per-keystroke history (259,778 changes) the way a server opens it from
// disk: through the engine (in-process and in a worker) and, as the floor,
// with automerge-go's own Load. Building the document takes a while.
func BenchmarkColdOpen(b *testing.B) {
	saved := paperDocument(b)
	b.Logf("saved document: %d bytes", len(saved))
	ctx := context.Background()
	b.Run("automerge.Load", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := automerge.Load(saved); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Local.Open", func(b *testing.B) {
		l := crdt.NewLocal(nil)
		for i := 0; i < b.N; i++ {
			if _, err := l.Open(ctx, "paper", saved); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Pool.Open", func(b *testing.B) {
		p, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Shutdown()
		for i := 0; i < b.N; i++ {
			if _, err := p.Open(ctx, "paper", saved); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func paperDocument(b *testing.B) []byte {
	b.Helper()
	const path = "../../shared/data/automerge-paper.json.gz"
	f, err := os.Open(path)
	if err != nil {
		b.Skipf("trace not available: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	var trace struct {
		StartContent string `json:"startContent"`
		EndContent   string `json:"endContent"`
		Txns         []struct {
			Patches [][3]json.RawMessage `json:"patches"`
		} `json:"txns"`
	}
	if err := json.NewDecoder(zr).Decode(&trace); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	r := crdttest.NewReplica()
	if err := r.SpliceText("text", 0, 0, trace.StartContent); err != nil {
		b.Fatal(err)
	}
	for _, t := range trace.Txns {
		for _, p := range t.Patches {
			var pos, del int
			var ins string
			json.Unmarshal(p[0], &pos)
			json.Unmarshal(p[1], &del)
			json.Unmarshal(p[2], &ins)
			if err := r.SpliceText("text", pos, del, ins); err != nil {
				b.Fatal(err)
			}
		}
	}
	if got, _ := r.Text("text"); got != trace.EndContent {
		b.Fatal("replayed trace does not give endContent")
	}
	b.Logf("built %d changes in %v", len(trace.Txns), time.Since(start))
	return r.Save()
}
