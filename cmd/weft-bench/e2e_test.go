package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/launch/launchtest"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace/tracetest"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
)

func TestMain(m *testing.M) { launchtest.Main(m) }

// The command line end to end: JSON output of idle mode.
func TestIdleCommand(t *testing.T) {
	s := launchtest.StartWeft(t)
	var out, errb bytes.Buffer
	code := run1([]string{"--mode", "idle", "--url", s.URL, "--conns", "20", "--pid", strconv.Itoa(s.PID()), "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	var res workload.Result
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
	if code := run1([]string{"--url", "ws://127.0.0.1:1/", "--trace", tracetest.Write(t, tracetest.Synth(10, 1), false), "--timeout", "10s"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "writer") {
		t.Fatalf("no server: exit %d, %s", code, errb.String())
	}
}
