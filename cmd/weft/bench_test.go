package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage/testwait"
)

// BenchmarkFanout: one writer types into one document that 10 other peers
// follow; each op is one keystroke change. The peers are light clients
// (they read the heads of each message and acknowledge them, as a client
// in sync does) so that the figures are the server's, not the cost of
// running 11 Automerge replicas in the benchmark process. Reports changes/s
// and writer-to-peer latency (send to the moment a peer receives the
// message with the change).
func BenchmarkFanout(b *testing.B) {
	b.Run("max", func(b *testing.B) {
		s := startServer(b, "", "--log-level", "warn")
		benchFanout(b, 0, s, s)
	})
	b.Run("rate=200", func(b *testing.B) {
		s := startServer(b, "", "--log-level", "warn")
		benchFanout(b, 200, s, s)
	})
}

// benchFanout runs the writer (on node ws) as fast as it can (rate 0) or
// open loop at rate changes/s, with the readers on node rs; latency is
// counted from the intended send time. Only changes whose exact heads
// reach a reader count (through NATS, batches can merge several).
func benchFanout(b *testing.B, rate float64, ws, rs *server) {
	doc := crdt.NewDocumentID()
	w := dial(b, ws, "writer", dialOpts{})
	if err := w.edit(doc, 0, 0, "x"); err != nil {
		b.Fatal(err)
	}
	testwait.Until(b, 10*time.Second, "writer acknowledged", func() bool { return len(w.heads(doc)) > 0 })
	const readers = 10
	var (
		mu     sync.Mutex
		sentAt = map[string]time.Time{}
		lat    []time.Duration
		got    = map[string]int{}
	)
	for i := 0; i < readers; i++ {
		r := dial(b, rs, fmt.Sprintf("reader-%d", i), dialOpts{})
		r.open(doc)
		testwait.Until(b, 10*time.Second, "reader to load", func() bool { return r.text(doc) == "x" })
		// From here on the reader only acknowledges what it receives.
		r.mu.Lock()
		r.light = func(m session.Message) {
			hs, err := crdt.MessageHeads(m.Data)
			if err != nil {
				return
			}
			key := hs.String()
			now := time.Now()
			mu.Lock()
			if t0, ok := sentAt[key]; ok {
				lat = append(lat, now.Sub(t0))
				got[key]++
			}
			mu.Unlock()
			r.conn.WriteMessage(websocket.BinaryMessage, session.Encode(session.Message{
				Type: session.TypeSync, SenderID: r.peerID, TargetID: m.SenderID, DocumentID: doc, Data: crdt.AckMessage(hs)}))
		}
		r.mu.Unlock()
	}
	// Let the initial exchanges settle so every reader is known in sync.
	quiet(b, ws, rs)
	w.mu.Lock()
	rep := w.docs[doc]
	w.mu.Unlock()
	b.ResetTimer()
	start := time.Now()
	var last string
	for i := 0; i < b.N; i++ {
		intended := time.Now()
		if rate > 0 {
			intended = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			time.Sleep(time.Until(intended)) // not synchronization: the open-loop writer's rate
		}
		w.mu.Lock()
		if err := rep.SpliceText("text", i+1, 0, "y"); err != nil {
			b.Fatal(err)
		}
		msg := rep.ChangeMessage()
		last = rep.Heads().String()
		mu.Lock()
		sentAt[last] = intended
		mu.Unlock()
		err := w.conn.WriteMessage(websocket.BinaryMessage, session.Encode(session.Message{
			Type: session.TypeSync, SenderID: w.peerID, DocumentID: doc, Data: msg}))
		w.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
	testwait.Until(b, 120*time.Second, "every reader to receive the last change", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[last] == readers
	})
	el := time.Since(start)
	b.StopTimer()
	_, m := httpGet(b, ws.url+"/metrics")
	if n := metricValue(m, "weft_apply_seconds_count"); n > 0 {
		b.ReportMetric(metricValue(m, "weft_apply_seconds_sum")/n*1e6, "server-apply-µs")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lat) == 0 {
		b.Fatal("no deliveries")
	}
	b.ReportMetric(float64(len(lat))/float64(b.N*readers), "delivered")
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/el.Seconds(), "changes/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkIdleConnections measures the server's resident memory per
// joined, idle connection, with the server in its own process.
func BenchmarkIdleConnections(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "weft")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", b.TempDir(), "--log-level", "warn",
		"--max-conns-per-ip", "0", "--admission-rate", "0")
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
	// The baseline once the node is serving (its start-up done).
	testwait.Until(b, testwait.Timeout, "the node to be ready", func() bool {
		code, _ := httpGet(b, s.url+"/readyz")
		return code == http.StatusOK
	})
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
	// Measure once the node holds every connection.
	testwait.For(b, 30*time.Second, "every idle connection open at the node", func() error {
		_, m := httpGet(b, s.url+"/metrics")
		if got := metricValue(m, "weft_connections"); got < float64(n) {
			return fmt.Errorf("weft_connections %v, want %d", got, n)
		}
		return nil
	})
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

// quiet waits for protocol traffic to stop on the nodes: the counters of
// messages in and out stay the same across scrapes at least 50ms apart.
func quiet(tb testing.TB, nodes ...*server) {
	tb.Helper()
	last, since := -1.0, time.Now()
	testwait.For(tb, 30*time.Second, "protocol traffic to stop", func() error {
		var n float64
		for _, s := range nodes {
			_, m := httpGet(tb, s.url+"/metrics")
			for line := range strings.SplitSeq(m, "\n") {
				if strings.HasPrefix(line, "weft_messages_in_total{") || strings.HasPrefix(line, "weft_messages_out_total{") {
					var v float64
					fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
					n += v
				}
			}
		}
		if n != last {
			last, since = n, time.Now()
			return fmt.Errorf("%v messages so far, still moving", n)
		}
		if el := time.Since(since); el < 50*time.Millisecond {
			return fmt.Errorf("%v messages, unchanged for only %s", n, el)
		}
		return nil
	})
}
