package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/idle"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/launch"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/replay"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
)

// Options are compare mode's own settings.
type Options struct {
	WeftBin       string  // the weft binary
	RefDir        string  // the reference server's directory (server.mjs, npm ci done)
	TypingChanges int     // changes of the typing workload
	TypingRate    float64 // writer rate of the typing workload
	JSON          bool    // print the results as one JSON array
}

// job is one workload, run against each server.
type job struct {
	name string
	cfg  workload.Config
	idle bool
}

// candidate is a server to compare.
type candidate struct {
	name  string
	start func() (*launch.Server, error)
}

// compared is one workload's result on one server.
type compared struct {
	Workload string           `json:"workload"`
	Server   string           `json:"server"`
	Result   *workload.Result `json:"result"`
}

// Run runs every workload, based on base, against a fresh reference server
// and a fresh weft, one server at a time, and prints a side-by-side table
// (or JSON) to stdout and each run's details to stderr.
func Run(ctx context.Context, base workload.Config, o Options, stdout, stderr io.Writer) error {
	if _, err := os.Stat(o.WeftBin); err != nil {
		return fmt.Errorf("--weft-bin: %w (make bench-compare builds it)", err)
	}
	if _, err := os.Stat(base.Trace); err != nil {
		return fmt.Errorf("--trace: %w", err)
	}
	servers := []candidate{
		{"reference (Node, automerge-repo 2.5.6)", func() (*launch.Server, error) { return launch.Reference(o.RefDir) }},
		{"weft", func() (*launch.Server, error) { return launch.Weft(o.WeftBin) }},
	}
	var all []compared
	for _, j := range jobs(base, o) {
		for _, sv := range servers {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c, err := runOne(ctx, j, sv, stderr)
			if err != nil {
				return err
			}
			all = append(all, c)
		}
	}
	if o.JSON {
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

// jobs are the workloads compared: the trace flat out, the typing load
// open loop, and idle connections.
func jobs(base workload.Config, o Options) []job {
	return []job{
		{name: fmt.Sprintf("trace replay, %d changes, %d readers, as fast as possible", base.Changes, base.Readers),
			cfg: with(base, func(c *workload.Config) { c.Rate = 0 })},
		{name: fmt.Sprintf("typing, %d changes at %g/s, %d readers", o.TypingChanges, o.TypingRate, base.Readers),
			cfg: with(base, func(c *workload.Config) { c.Changes, c.Rate = o.TypingChanges, o.TypingRate })},
		{name: fmt.Sprintf("idle, %d connections", base.Conns), cfg: base, idle: true},
	}
}

func with(c workload.Config, f func(*workload.Config)) workload.Config { f(&c); return c }

// runOne starts a fresh server, runs one workload against it, stops it and
// prints the result to stderr.
func runOne(ctx context.Context, j job, sv candidate, stderr io.Writer) (compared, error) {
	fmt.Fprintf(stderr, "== %s: %s\n", j.name, sv.name)
	s, err := sv.start()
	if err != nil {
		return compared{}, err
	}
	cfg := j.cfg
	cfg.URL, cfg.PID = s.URL, s.PID()
	var res *workload.Result
	if j.idle {
		res, err = idle.Run(ctx, cfg)
	} else {
		res, err = replay.Run(ctx, cfg)
	}
	s.Stop()
	if err != nil {
		return compared{}, fmt.Errorf("%s against %s: %w\n%s", j.name, sv.name, err, s.Log())
	}
	res.Label = sv.name
	workload.Print(stderr, res)
	if res.Error != "" {
		fmt.Fprintf(stderr, "  server log (tail):\n%s\n", s.Log())
	}
	return compared{j.name, sv.name, res}, nil
}
