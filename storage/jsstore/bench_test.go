package jsstore_test

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-dev/weft/storage"
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

// BenchmarkFollowLatency is the cross-node part of typing: one Store appends 100-byte
// chunks at 200/s, another follows the document, and the time from the Append's call to
// the follower's delivery is reported as p50 and p99 (delivered-p50-ms, delivered-p99-ms),
// beside the Append's own (acked-p50-ms, acked-p99-ms: chunk and record).
func BenchmarkFollowLatency(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("R%d", n), func(b *testing.B) {
			urls := ""
			if n == 1 {
				urls = jstest.RunServer(b, "").ClientURL()
			} else {
				urls = jstest.NewCluster(b, n).URLs()
			}
			w := open(b, connect(b, urls), jsstore.Options{Replicas: n})
			f := open(b, connect(b, urls), jsstore.Options{Replicas: n})
			benchFollow(b, w, f)
		})
	}
}

func benchFollow(b *testing.B, w, f *jsstore.Store) {
	var mu sync.Mutex
	var got []time.Duration
	stop, err := f.Follow("typing", 0, func(l storage.Logged) {
		now := time.Now()
		if l.Chunk == nil {
			return
		}
		at, _ := time.Parse(time.RFC3339Nano, string(l.Chunk))
		mu.Lock()
		got = append(got, now.Sub(at))
		mu.Unlock()
	})
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	var acked []time.Duration
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	b.ResetTimer()
	for range b.N {
		<-tick.C
		start := time.Now()
		if _, err := w.Append(b.Context(), "typing", []byte(start.Format(time.RFC3339Nano)), 1); err != nil {
			b.Fatal(err)
		}
		acked = append(acked, time.Since(start))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= b.N {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the follower got %d of %d chunks", n, b.N)
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	report(b, "acked", acked)
	report(b, "delivered", got)
}

func report(b *testing.B, name string, ds []time.Duration) {
	slices.Sort(ds)
	ms := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), name+"-p50-ms")
	b.ReportMetric(ms(0.99), name+"-p99-ms")
}
