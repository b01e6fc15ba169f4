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
// See README.md in this directory.
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
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run1(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	Config
	mode        string
	json        bool
	allowRemote bool

	// compare mode
	weftBin       string
	refDir        string
	typingChanges int
	typingRate    float64
}

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
	fs.StringVar(&o.mode, "mode", "trace", "trace, idle, or compare (starts the reference server and weft itself)")
	fs.IntVar(&o.Conns, "conns", 1000, "idle mode: connections to open")
	fs.BoolVar(&o.json, "json", false, "print the result as one JSON object")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "give up on a workload after this long")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a --url that is not on loopback")
	fs.StringVar(&o.weftBin, "weft-bin", "bin/weft", "compare mode: the weft binary")
	fs.StringVar(&o.refDir, "refserver", "testdata/refserver", "compare mode: directory of the reference server (server.mjs, npm ci done)")
	fs.IntVar(&o.typingChanges, "typing-changes", 2000, "compare mode: changes of the typing workload")
	fs.Float64Var(&o.typingRate, "typing-rate", 200, "compare mode: writer rate of the typing workload")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	switch o.mode {
	case "trace", "idle", "compare":
	default:
		return nil, fmt.Errorf("--mode %q: want trace, idle or compare", o.mode)
	}
	if o.Readers < 0 || o.Rate < 0 || o.Changes < 0 || o.Timeout <= 0 {
		return nil, errors.New("--readers, --rate and --changes must not be negative, --timeout must be positive")
	}
	if o.mode != "compare" {
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
	if o.mode == "compare" {
		if err := compare(ctx, o, stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "weft-bench:", err)
			return 1
		}
		return 0
	}
	var res *Result
	if o.mode == "idle" {
		res, err = runIdle(ctx, o.Config)
	} else {
		res, err = runTrace(ctx, o.Config)
	}
	if err != nil {
		fmt.Fprintln(stderr, "weft-bench:", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.Encode(res)
	} else {
		printResult(stdout, res)
	}
	if res.Error != "" || !res.Converged {
		return 1
	}
	return 0
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func printResult(w io.Writer, r *Result) {
	if r.Mode == "idle" {
		fmt.Fprintf(w, "weft-bench idle: %s, %d joined idle connections\n", r.URL, r.Conns)
		if r.Server != nil {
			fmt.Fprintf(w, "  server RSS     %s before, %s after: %.1f KB per connection\n", mb(r.RSSBefore), mb(r.RSSAfter), float64(r.BytesPerConn)/1024)
			fmt.Fprintf(w, "  server         CPU %.2f s, peak RSS %s (pid %d, %d processes)\n", r.Server.CPUSeconds, mb(r.Server.PeakRSS), r.Server.PID, r.Server.Processes)
		}
		fmt.Fprintf(w, "  wire           sent %s, received %s\n", mb(r.BytesSent), mb(r.BytesReceived))
		if r.Error != "" {
			fmt.Fprintf(w, "  ERROR          %s\n", r.Error)
		}
		return
	}
	rate := "as fast as possible"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g changes/s", r.Rate)
	}
	if r.Window > 0 {
		rate += fmt.Sprintf(", window %d", r.Window)
	}
	fmt.Fprintf(w, "weft-bench trace: %s, %s: %d changes (%d transactions), 1 writer + %d readers, %s\n",
		r.URL, r.Trace, r.Changes, r.Txns, r.Reader, rate)
	fmt.Fprintf(w, "  elapsed        %.2f s\n", r.ElapsedSeconds)
	fmt.Fprintf(w, "  delivered      %.0f changes/s (%.0f deliveries/s; %d of %d deliveries)\n", r.ChangesPerSec, r.DeliveriesPerSec, r.Delivered, r.Expected)
	if r.Latency != nil {
		fmt.Fprintf(w, "  latency        p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.Latency.P50, r.Latency.P99, r.Latency.Max)
	}
	conv := "ok: every reader's text equals the trace's (" + fmt.Sprint(r.TextLen) + " code points)"
	if !r.Converged {
		conv = "NO"
		if len(r.Diverged) > 0 {
			conv += ": " + strings.Join(r.Diverged, "; ")
		}
	}
	fmt.Fprintf(w, "  converged      %s\n", conv)
	fmt.Fprintf(w, "  messages       %d to readers, %d reader acks; %d to the writer, %d of them needing the sync state; window waits %d\n",
		r.ReaderMessages, r.ReaderAcks, r.WriterMessages, r.WriterResyncs, r.WindowWaits)
	fmt.Fprintf(w, "  wire           sent %s, received %s\n", mb(r.BytesSent), mb(r.BytesReceived))
	if r.Server != nil {
		fmt.Fprintf(w, "  server         CPU %.2f s, peak RSS %s (pid %d, %d processes)\n", r.Server.CPUSeconds, mb(r.Server.PeakRSS), r.Server.PID, r.Server.Processes)
	}
	fmt.Fprintf(w, "  this tool      CPU %.2f s\n", r.ToolCPU)
	if r.Error != "" {
		fmt.Fprintf(w, "  ERROR          %s\n", r.Error)
	}
}
