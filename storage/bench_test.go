package storage

import (
	"fmt"
	"sync/atomic"
	"testing"
)

const benchChunkSize = 1 << 10

// BenchmarkAppendSerial appends 1 KiB chunks from one goroutine: one fsync per write.
func BenchmarkAppendSerial(b *testing.B) {
	s, _ := newTestStore(b, nil)
	chunk := make([]byte, benchChunkSize)
	ctx := b.Context()
	b.SetBytes(benchChunkSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(ctx, "doc", chunk, 1); err != nil {
			b.Fatal(err)
		}
	}
	reportCommits(b, s)
}

// BenchmarkAppendParallel appends 1 KiB chunks from many goroutines, each to its own document,
// so group commit shares each fsync between many writes.
func BenchmarkAppendParallel(b *testing.B) {
	s, _ := newTestStore(b, nil)
	chunk := make([]byte, benchChunkSize)
	ctx := b.Context()
	var next atomic.Int64
	b.SetBytes(benchChunkSize)
	b.ReportAllocs()
	b.SetParallelism(16) // 16 writers per CPU: many documents in flight
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		doc := fmt.Sprintf("doc-%04d", next.Add(1))
		for pb.Next() {
			if _, err := s.Append(ctx, doc, chunk, 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	reportCommits(b, s)
}

func reportCommits(b *testing.B, s *Store) {
	b.Helper()
	st := s.Stats()
	if st.Commits == 0 {
		return
	}
	b.ReportMetric(float64(st.BatchedWrites)/float64(st.Commits), "writes/commit")
	b.ReportMetric(float64(st.CommitNanos)/float64(st.Commits)/1e3, "us/commit")
}
