package jsstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/weft-dev/weft/storage/jsstore"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
)

// BenchmarkAppend appends 1 KiB chunks from many goroutines, each to its own document, so
// that the committer publishes many chunks per round of acknowledgements: on one server
// (R1) and on a 3-server cluster (R3).
func BenchmarkAppend(b *testing.B) {
	b.Run("R1", func(b *testing.B) {
		srv := jstest.RunServer(b, "")
		benchAppend(b, open(b, connect(b, srv.ClientURL()), jsstore.Options{Replicas: 1}))
	})
	b.Run("R3", func(b *testing.B) {
		cl := jstest.NewCluster(b, 3)
		s := open(b, connect(b, cl.URLs()), jsstore.Options{Replicas: 3})
		if s.Replicas() != 3 {
			b.Fatalf("Replicas() = %d", s.Replicas())
		}
		benchAppend(b, s)
	})
}

func benchAppend(b *testing.B, s *jsstore.Store) {
	const size = 1 << 10
	chunk := make([]byte, size)
	var next atomic.Int64
	b.SetBytes(size)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		doc := fmt.Sprintf("doc-%04d", next.Add(1))
		for pb.Next() {
			if _, err := s.Append(b.Context(), doc, chunk, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
