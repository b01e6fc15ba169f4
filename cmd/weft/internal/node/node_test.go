package node

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage/testwait"
)

// poolWatchdog is crdt.Pool.Shutdown's timer that kills a worker still
// running 5s after Shutdown: it exits on its own (session/main_test.go's
// checkLeaks has the same exception).
var poolWatchdog = goleak.IgnoreAnyFunction("github.com/weft-dev/weft/crdt.(*Pool).Shutdown.func1")

func TestMain(m *testing.M) {
	crdt.MaybeRunWorker() // the Pool's workers re-execute this test binary
	goleak.VerifyTestMain(m, poolWatchdog)
}

// testConfig is a loopback node in the open mode with the serve defaults
// that matter here.
func testConfig(t *testing.T, stdout io.Writer) Config {
	return Config{
		Addr: "127.0.0.1:0", Data: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Stdout: stdout, Version: "test",
		JoinTimeout: 30 * time.Second, IdleUnload: 30 * time.Second, Workers: min(2, runtime.NumCPU()),
		MaxMessage: 1 << 20, SendQueue: 256, PingPeriod: 20 * time.Second, ShutdownGrace: 10 * time.Second,
		AuthMode: "none", MaxConns: 100, MaxConnsPerIP: 100, AdmissionRate: 100, AdmissionBurst: 100,
		APIRate: 100, APIBurst: 100, MaxDocsPerConn: 100, EphemeralRate: 100,
	}
}

// startNode runs a node and returns its URL and Run's result channel.
func startNode(t *testing.T, ctx context.Context) (*Node, string, <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	n := New(testConfig(t, pw))
	done := make(chan error, 1)
	go func() {
		done <- n.Run(ctx)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("node did not start: %v (%v)", err, <-done)
	}
	go io.Copy(io.Discard, pr)
	return n, strings.TrimSpace(strings.TrimPrefix(line, "weft: listening on ")), done
}

func waitRun(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Run serves until its context ends, then shuts down and returns nil; the
// data directory is released (a second node opens it at once).
func TestRunEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	n, url, done := startNode(t, ctx)
	testwait.Until(t, 5*time.Second, "the node to be ready", n.Ready)
	if code := status(t, url+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d", code)
	}
	cancel()
	waitRun(t, done)
	if n.Ready() {
		t.Fatal("still ready after shutdown")
	}
	if code := status(t, url+"/healthz"); code != 0 {
		t.Fatalf("still serving after shutdown: %d", code)
	}
}

// Shutdown called from outside ends Run too, and a second call returns
// the first one's result.
func TestShutdownEndsRun(t *testing.T) {
	n, url, done := startNode(t, context.Background())
	if code := status(t, url+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	waitRun(t, done)
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// A node that cannot listen fails Run with the reason and releases what it
// had opened.
func TestRunFailsCleanly(t *testing.T) {
	cfg := testConfig(t, io.Discard)
	cfg.Addr = "127.0.0.1:notaport"
	if err := New(cfg).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("Run = %v, want a listen error", err)
	}
	cfg.Addr = "127.0.0.1:0"
	cfg.Stdout = io.Discard
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	n := New(cfg)
	go func() { done <- n.Run(ctx) }()
	// Ready only once the second node has opened the data directory.
	testwait.Until(t, 10*time.Second, "a second node ready: the data directory released by the failed node", n.Ready)
	cancel()
	waitRun(t, done)
}
