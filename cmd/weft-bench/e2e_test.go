package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	weftBin   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if weftBin != "" {
		os.RemoveAll(filepath.Dir(weftBin))
	}
	os.Exit(code)
}

// startTestWeft builds ../weft (once) and serves it on a free loopback
// port with a temporary data directory.
func startTestWeft(t *testing.T) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the weft binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "weft-bench-test-")
		if err != nil {
			buildErr = err
			return
		}
		weftBin = filepath.Join(dir, "weft")
		if out, err := exec.Command("go", "build", "-o", weftBin, "../weft").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ../weft: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	s, err := startWeft(weftBin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// A short replay against a real weft: every change reaches both readers,
// the texts converge, and the figures are filled in.
func TestReplayAgainstWeft(t *testing.T) {
	s := startTestWeft(t)
	trace := writeTrace(t, synthTrace(300, 3), true)
	for _, rate := range []float64{0, 500} {
		// Flat out with a small window, open loop without one.
		window := 0
		if rate == 0 {
			window = 20
		}
		res, err := runTrace(context.Background(), Config{URL: s.url, Trace: trace, Changes: 300, Readers: 2,
			Rate: rate, Window: window, PID: s.cmd.Process.Pid, Timeout: time.Minute})
		if err != nil {
			t.Fatalf("rate %g: %v\n%s", rate, err, s.log)
		}
		if res.Error != "" || !res.Converged {
			t.Fatalf("rate %g: error %q, converged %v, diverged %v\n%s", rate, res.Error, res.Converged, res.Diverged, s.log)
		}
		if res.Changes != 299 || res.Delivered != 2*299 || res.ChangesPerSec <= 0 {
			t.Fatalf("rate %g: %d changes, %d delivered, %.0f changes/s", rate, res.Changes, res.Delivered, res.ChangesPerSec)
		}
		if res.Latency == nil || res.Latency.Max <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
			t.Fatalf("rate %g: latency %+v", rate, res.Latency)
		}
		if res.Server == nil || res.Server.CPUSeconds <= 0 || res.Server.PeakRSS <= 0 || res.BytesSent <= 0 || res.BytesReceived <= 0 {
			t.Fatalf("rate %g: server %+v, wire %d/%d", rate, res.Server, res.BytesSent, res.BytesReceived)
		}
		if rate > 0 && res.ElapsedSeconds < 298/rate { // change i is due at i/rate
			t.Fatalf("open loop at %g/s finished in %.2f s", rate, res.ElapsedSeconds)
		}
	}
}

// The command line end to end: JSON output of idle mode.
func TestIdleCommand(t *testing.T) {
	s := startTestWeft(t)
	var out, errb bytes.Buffer
	code := run1([]string{"--mode", "idle", "--url", s.url, "--conns", "20", "--pid", strconv.Itoa(s.cmd.Process.Pid), "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	var res Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Conns != 20 || res.RSSAfter <= 0 || res.Server == nil {
		t.Fatalf("%+v", res)
	}
}

func TestFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run1([]string{"--url", "ws://192.0.2.1/"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "loopback") {
		t.Fatalf("non-loopback URL: exit %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := run1([]string{"--mode", "nope"}, &out, &errb); code != 2 {
		t.Fatalf("bad mode: exit %d", code)
	}
	errb.Reset()
	// Nothing listens on port 1: a clear failure, not a hang.
	if code := run1([]string{"--url", "ws://127.0.0.1:1/", "--trace", writeTrace(t, synthTrace(10, 1), false), "--timeout", "10s"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "writer") {
		t.Fatalf("no server: exit %d, %s", code, errb.String())
	}
}
