package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/cluster"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/launch/launchtest"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace/tracetest"
)

// Cluster mode end to end at a tiny size, against the real weft and
// nats-server binaries: every setup (a bbolt node, replicas 1 on one
// nats-server, replicas 3 on three) replays, types and opens, and the
// JSON has every row converged.
func TestClusterCommand(t *testing.T) {
	weft, nats := launchtest.WeftBin(t), launchtest.NATSBin(t)
	tr := tracetest.Write(t, tracetest.Synth(300, 5), true)
	var out, errb bytes.Buffer
	code := run1([]string{"--mode", "cluster", "--weft-bin", weft, "--nats-bin", nats, "--trace", tr,
		"--changes", "200", "--readers", "2", "--typing-changes", "40", "--typing-rate", "200",
		"--open-changes", "300", "--timeout", "30s", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out.String(), errb.String())
	}
	var rows []cluster.Row
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	// Per setup: flat out and typing; then opens: one after the single
	// node's restart, two on each cluster (two nodes, three nodes).
	if len(rows) != 3*2+1+2+2 {
		t.Fatalf("%d rows: %s", len(rows), out.String())
	}
	opens := map[int]int{}
	for _, r := range rows {
		switch {
		case r.Open != nil:
			if !r.Open.Converged || r.Open.FullMs <= 0 || r.Open.FirstMs > r.Open.FullMs || r.Open.Changes < 2 {
				t.Fatalf("%s on %s: %+v", r.Workload, r.Setup, r.Open)
			}
			opens[r.Open.Nodes]++
		case r.Result != nil:
			if !r.Result.Converged || r.Result.Error != "" || r.Result.ChangesPerSec <= 0 || r.Result.Latency == nil {
				t.Fatalf("%s on %s: %+v", r.Workload, r.Setup, r.Result)
			}
			if r.Setup != "single node, bbolt" && (r.Result.ReaderURL == "" || r.Result.ReaderURL == r.Result.URL) {
				t.Fatalf("%s on %s: readers on the writer's node (%q)", r.Workload, r.Setup, r.Result.ReaderURL)
			}
		default:
			t.Fatalf("empty row %+v", r)
		}
	}
	if opens[1] != 1 || opens[2] != 2 || opens[3] != 2 {
		t.Fatalf("opens by nodes running: %v", opens)
	}
}
