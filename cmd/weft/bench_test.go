package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
)

// BenchmarkFanout: one writer types into one document that 10 other peers
// follow; each op is one keystroke change. Reports changes/s and the
// writer-to-peer latency (send to the moment a peer has the change).
func BenchmarkFanout(b *testing.B) {
	s := startServer(b, "", "--log-level", "warn")
	doc := crdt.NewDocumentID()
	w := dial(b, s, "writer", dialOpts{})
	if err := w.edit(doc, 0, 0, "x"); err != nil {
		b.Fatal(err)
	}
	const readers = 10
	var (
		mu      sync.Mutex
		sentAt  = map[int]time.Time{}
		lat     []time.Duration
		lengths = make([]int, readers)
	)
	rs := make([]*wsClient, readers)
	for i := range rs {
		rs[i] = dial(b, s, fmt.Sprintf("reader-%d", i), dialOpts{})
		i := i
		rs[i].onSync = func(d string, _ []byte) {
			txt, _ := rs[i].docs[d].Text("text")
			n := len(txt)
			now := time.Now()
			mu.Lock()
			for k := lengths[i] + 1; k <= n; k++ {
				if t0, ok := sentAt[k]; ok {
					lat = append(lat, now.Sub(t0))
				}
			}
			if n > lengths[i] {
				lengths[i] = n
			}
			mu.Unlock()
		}
		rs[i].open(doc)
	}
	eventually(b, 10*time.Second, "readers to load", func() bool {
		for _, r := range rs {
			if r.text(doc) != "x" {
				return false
			}
		}
		return true
	})
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		mu.Lock()
		sentAt[i+2] = time.Now()
		mu.Unlock()
		if err := w.edit(doc, i+1, 0, "y"); err != nil {
			b.Fatal(err)
		}
	}
	want := b.N + 1
	eventually(b, 120*time.Second, "readers to converge", func() bool {
		for _, r := range rs {
			if len(r.text(doc)) != want {
				return false
			}
		}
		return true
	})
	el := time.Since(start)
	b.StopTimer()
	_, m := httpGet(b, s.url+"/metrics")
	if n := metricValue(m, "weft_apply_seconds_count"); n > 0 {
		b.ReportMetric(metricValue(m, "weft_apply_seconds_sum")/n*1e6, "server-apply-µs")
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(b.N)/el.Seconds(), "changes/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}

// BenchmarkIdleConnections measures the server's resident memory per
// joined, idle connection, with the server in its own process.
func BenchmarkIdleConnections(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "weft")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", b.TempDir(), "--log-level", "warn")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "weft: listening on "))
	s := &server{url: url, ws: "ws" + strings.TrimPrefix(url, "http") + "/"}
	n := max(b.N, 1000)
	time.Sleep(200 * time.Millisecond)
	before := rss(b, cmd.Process.Pid)
	b.ResetTimer()
	for i := 0; i < n; i++ {
		c, err := tryDial(s, fmt.Sprintf("idle-%d", i), dialOpts{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.conn.Close()
	}
	b.StopTimer()
	time.Sleep(500 * time.Millisecond)
	after := rss(b, cmd.Process.Pid)
	b.ReportMetric(float64(after-before)/float64(n), "bytes/conn")
}

func rss(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
