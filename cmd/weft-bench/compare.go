package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is a server process started for one workload.
type server struct {
	name string
	cmd  *exec.Cmd
	url  string
	tmp  string // removed after it stops
	log  *tailBuf
	exit chan struct{}
}

// tailBuf keeps the last lines a process printed, for error reports.
type tailBuf struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuf) add(l string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, l)
	if len(t.lines) > 40 {
		t.lines = t.lines[len(t.lines)-40:]
	}
}

func (t *tailBuf) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// startServer runs cmd in its own process group and waits for the line
// "...listening on URL" on its stdout.
func startServer(name string, cmd *exec.Cmd, tmp string) (*server, error) {
	s := &server{name: name, cmd: cmd, tmp: tmp, log: &tailBuf{}, exit: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	found := make(chan string, 1)
	var pipes sync.WaitGroup
	pipes.Add(2)
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			l := sc.Text()
			s.log.add(l)
			if _, u, ok := strings.Cut(l, "listening on "); ok {
				select {
				case found <- strings.TrimSpace(u):
				default:
				}
			}
		}
	}()
	go func() {
		defer pipes.Done()
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.log.add(sc.Text())
		}
	}()
	go func() { pipes.Wait(); cmd.Wait(); close(s.exit) }()
	select {
	case u := <-found:
		u = strings.Replace(strings.Replace(u, "http://", "ws://", 1), "https://", "wss://", 1)
		if !strings.HasSuffix(u, "/") {
			u += "/"
		}
		s.url = u
		return s, nil
	case <-s.exit:
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("%s exited before listening:\n%s", name, s.log)
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s did not print its address within 60 s:\n%s", name, s.log)
	}
}

// stop sends SIGTERM to the server's process group, then SIGKILL if it
// is still there after 10 s, and removes its temporary directory.
func (s *server) stop() {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exit:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exit
	}
	// Workers left behind in the group, if any.
	syscall.Kill(-pgid, syscall.SIGKILL)
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

func startWeft(bin string) (*server, error) {
	data, err := os.MkdirTemp("", "weft-bench-data-")
	if err != nil {
		return nil, err
	}
	// Every bench connection comes from 127.0.0.1: lift the per-address
	// and admission limits meant for the open internet.
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "warn",
		"--max-conns-per-ip", "0", "--admission-rate", "0")
	return startServer("weft", cmd, data)
}

func startRef(dir string) (*server, error) {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@automerge", "automerge-repo-storage-nodefs")); err != nil {
		return nil, fmt.Errorf("reference server: run npm ci in %s first (make bench-compare does)", dir)
	}
	cmd := exec.Command("node", "server.mjs", "0")
	cmd.Dir = dir
	return startServer("reference", cmd, "")
}

type workload struct {
	name string
	cfg  Config
	idle bool
}

type compared struct {
	Workload string  `json:"workload"`
	Server   string  `json:"server"`
	Result   *Result `json:"result"`
}

// compare runs every workload against a fresh reference server and a
// fresh weft, one server at a time, and prints a side-by-side table.
func compare(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	if _, err := os.Stat(o.weftBin); err != nil {
		return fmt.Errorf("--weft-bin: %w (make bench-compare builds it)", err)
	}
	if _, err := os.Stat(o.Trace); err != nil {
		return fmt.Errorf("--trace: %w", err)
	}
	base := o.Config
	wls := []workload{
		{name: fmt.Sprintf("trace replay, %d changes, %d readers, as fast as possible", o.Changes, o.Readers),
			cfg: with(base, func(c *Config) { c.Rate = 0 })},
		{name: fmt.Sprintf("typing, %d changes at %g/s, %d readers", o.typingChanges, o.typingRate, o.Readers),
			cfg: with(base, func(c *Config) { c.Changes, c.Rate = o.typingChanges, o.typingRate })},
		{name: fmt.Sprintf("idle, %d connections", o.Conns), cfg: base, idle: true},
	}
	servers := []struct {
		name  string
		start func() (*server, error)
	}{
		{"reference (Node, automerge-repo 2.5.6)", func() (*server, error) { return startRef(o.refDir) }},
		{"weft", func() (*server, error) { return startWeft(o.weftBin) }},
	}
	var all []compared
	for _, wl := range wls {
		for _, sv := range servers {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(stderr, "== %s: %s\n", wl.name, sv.name)
			s, err := sv.start()
			if err != nil {
				return err
			}
			cfg := wl.cfg
			cfg.URL, cfg.PID = s.url, s.cmd.Process.Pid
			var res *Result
			if wl.idle {
				res, err = runIdle(ctx, cfg)
			} else {
				res, err = runTrace(ctx, cfg)
			}
			s.stop()
			if err != nil {
				return fmt.Errorf("%s against %s: %w\n%s", wl.name, sv.name, err, s.log)
			}
			res.Label = sv.name
			printResult(stderr, res)
			if res.Error != "" {
				fmt.Fprintf(stderr, "  server log (tail):\n%s\n", s.log)
			}
			all = append(all, compared{wl.name, sv.name, res})
		}
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(all)
	}
	printTable(stdout, all)
	for _, c := range all {
		if c.Result.Error != "" || !c.Result.Converged {
			return errors.New("some workloads failed (see above)")
		}
	}
	return nil
}

func with(c Config, f func(*Config)) Config { f(&c); return c }

// printTable prints the results as Markdown tables, ready for a README.
func printTable(w io.Writer, all []compared) {
	fmt.Fprintln(w, "| workload | server | changes/s | p50 ms | p99 ms | max ms | converged | server CPU s | server peak RSS MB |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
	byWorkload := map[string]map[string]*Result{}
	for _, c := range all {
		r := c.Result
		if byWorkload[c.Workload] == nil {
			byWorkload[c.Workload] = map[string]*Result{}
		}
		byWorkload[c.Workload][c.Server] = r
		if r.Mode != "trace" {
			continue
		}
		conv := "yes"
		if !r.Converged {
			conv = fmt.Sprintf("**no** (%d/%d delivered)", r.Delivered, r.Expected)
		}
		cpu, rss := "–", "–"
		if r.Server != nil {
			cpu, rss = fmt.Sprintf("%.2f", r.Server.CPUSeconds), fmt.Sprintf("%.0f", float64(r.Server.PeakRSS)/1e6)
		}
		p50, p99, mx := "–", "–", "–"
		if r.Latency != nil {
			p50, p99, mx = fmt.Sprintf("%.2f", r.Latency.P50), fmt.Sprintf("%.2f", r.Latency.P99), fmt.Sprintf("%.2f", r.Latency.Max)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", c.Workload, c.Server, r.ChangesPerSec, p50, p99, mx, conv, cpu, rss)
	}
	idle := false
	for _, c := range all {
		r := c.Result
		if r.Mode != "idle" {
			continue
		}
		if !idle {
			fmt.Fprintln(w)
			fmt.Fprintln(w, "| workload | server | connections | server RSS per connection KB | server CPU s | server peak RSS MB |")
			fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: |")
			idle = true
		}
		per, cpu, rss := "–", "–", "–"
		if r.Server != nil {
			per = fmt.Sprintf("%.1f", float64(r.BytesPerConn)/1024)
			cpu, rss = fmt.Sprintf("%.2f", r.Server.CPUSeconds), fmt.Sprintf("%.0f", float64(r.Server.PeakRSS)/1e6)
		}
		if r.Error != "" {
			per = "**failed**: " + r.Error
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s |\n", c.Workload, c.Server, r.Conns, per, cpu, rss)
	}
	// Ratios for the flat-out workloads (open-loop ones deliver the
	// offered rate on both servers).
	fmt.Fprintln(w)
	for _, c := range all {
		m := byWorkload[c.Workload]
		if c.Result.Mode != "trace" || c.Result.Rate > 0 || c.Server != "weft" {
			continue
		}
		for name, ref := range m {
			if name != "weft" && ref.ChangesPerSec > 0 {
				fmt.Fprintf(w, "%s: weft delivers %.1f× the reference server's changes/s.\n", c.Workload, c.Result.ChangesPerSec/ref.ChangesPerSec)
			}
		}
	}
}
