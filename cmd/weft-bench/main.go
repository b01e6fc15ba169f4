// Command weft-bench is a load tool for servers speaking the automerge-repo
// WebSocket protocol (weft, or the reference Node sync server).
//
// Trace mode replays a sequential editing trace through one writer (each
// transaction one Automerge change, sent the way a client in sync sends a
// keystroke) and K readers on one document, and reports delivered
// changes/s, writer-to-reader latency, convergence, bytes on the wire and
// the server's CPU and memory. Idle mode opens N joined idle connections
// and reports the server's memory per connection. Compare mode starts the
// reference server and weft and runs the same workloads against both.
// Cluster mode starts nats-server with JetStream and weft nodes on it and
// compares them with a single node on bbolt.
//
// The work lives in the packages under internal/ (see README.md in this
// directory); main parses the flags and runs the mode.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/cluster"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/compare"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/idle"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/replay"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
)

func main() {
	os.Exit(run1(os.Args[1:], os.Stdout, os.Stderr))
}

// options is the command line: the workload, the mode, and compare
// mode's own settings.
type options struct {
	workload.Config
	mode        string
	json        bool
	allowRemote bool
	compare     compare.Options
	cluster     cluster.Options
}

// parseFlags parses and checks the command line.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("weft-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "ws://127.0.0.1:8080/", "server WebSocket URL")
	fs.StringVar(&o.Trace, "trace", "../shared/data/automerge-paper.json.gz", "sequential editing trace (JSON, optionally gzipped)")
	fs.IntVar(&o.Changes, "changes", 20000, "replay the first N transactions of the trace")
	fs.IntVar(&o.Readers, "readers", 10, "reader peers")
	fs.Float64Var(&o.Rate, "rate", 0, "writer rate in changes/s, open loop (0 = as fast as possible)")
	fs.IntVar(&o.Window, "window", 1000, "most changes in flight: sent but not yet at every reader (0 = no limit)")
	fs.IntVar(&o.PID, "pid", 0, "server pid: report its CPU seconds and peak RSS (with its child processes)")
	fs.StringVar(&o.mode, "mode", "trace", "trace, idle, compare (starts the reference server and weft itself) or cluster (starts nats-server and weft nodes itself)")
	fs.IntVar(&o.Conns, "conns", 1000, "idle mode: connections to open")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up on a workload after this long")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a --url that is not on loopback")
	fs.StringVar(&o.compare.WeftBin, "weft-bin", "bin/weft", "compare and cluster modes: the weft binary")
	fs.StringVar(&o.compare.RefDir, "refserver", "testdata/refserver", "compare mode: directory of the reference server (server.mjs, npm ci done)")
	fs.IntVar(&o.compare.TypingChanges, "typing-changes", 2000, "compare and cluster modes: changes of the typing workload")
	fs.Float64Var(&o.compare.TypingRate, "typing-rate", 200, "compare and cluster modes: writer rate of the typing workload")
	fs.StringVar(&o.cluster.NATSBin, "nats-bin", "bin/nats-server", "cluster mode: the nats-server binary")
	fs.IntVar(&o.cluster.OpenChanges, "open-changes", 0, "cluster mode: transactions of the trace in the big document opened on a fresh node (0: all)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.compare.JSON = o.json
	o.cluster.WeftBin, o.cluster.TypingChanges, o.cluster.TypingRate, o.cluster.JSON =
		o.compare.WeftBin, o.compare.TypingChanges, o.compare.TypingRate, o.json
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	switch o.mode {
	case "trace", "idle", "compare", "cluster":
	default:
		return nil, fmt.Errorf("--mode %q: want trace, idle, compare or cluster", o.mode)
	}
	if o.Readers < 0 || o.Rate < 0 || o.Changes < 0 || o.Timeout <= 0 {
		return nil, errors.New("--readers, --rate and --changes must not be negative, --timeout must be positive")
	}
	if o.mode != "compare" && o.mode != "cluster" {
		if err := checkURL(o.URL, o.allowRemote); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// checkURL accepts ws:// and wss:// URLs whose host is on loopback (a
// load tool must not be pointed at other machines by accident).
func checkURL(s string, allowRemote bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("--url %q: want ws:// or wss://", s)
	}
	if allowRemote {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--url %q is not a loopback address; pass --allow-remote to load a server elsewhere", s)
}

// run1 runs the command line args and returns the exit status: 0 when
// every workload completed and converged, 1 when one did not, 2 for a bad
// command line.
func run1(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "weft-bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.mode == "compare" || o.mode == "cluster" {
		run := func() error { return compare.Run(ctx, o.Config, o.compare, stdout, stderr) }
		if o.mode == "cluster" {
			run = func() error { return cluster.Run(ctx, o.Config, o.cluster, stdout, stderr) }
		}
		if err := run(); err != nil {
			fmt.Fprintln(stderr, "weft-bench:", err)
			return 1
		}
		return 0
	}
	var res *workload.Result
	if o.mode == "idle" {
		res, err = idle.Run(ctx, o.Config)
	} else {
		res, err = replay.Run(ctx, o.Config)
	}
	if err != nil {
		fmt.Fprintln(stderr, "weft-bench:", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.Encode(res)
	} else {
		workload.Print(stdout, res)
	}
	if res.Error != "" || !res.Converged {
		return 1
	}
	return 0
}
