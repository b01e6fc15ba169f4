package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/replay"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
)

// Options are cluster mode's own settings.
type Options struct {
	WeftBin       string  // the weft binary
	NATSBin       string  // the nats-server binary
	TypingChanges int     // changes of the typing workload
	TypingRate    float64 // writer rate of the typing workload
	OpenChanges   int     // transactions of the big document (0: the whole trace)
	JSON          bool    // print the rows as one JSON array
}

// Row is one workload on one setup: a replay's result, or an opening.
type Row struct {
	Workload string           `json:"workload"`
	Setup    string           `json:"setup"`
	Result   *workload.Result `json:"result,omitempty"`
	Open     *OpenResult      `json:"open,omitempty"`
}

func (r Row) failed() bool {
	if r.Open != nil {
		return r.Open.Error != "" || !r.Open.Converged
	}
	return r.Result.Error != "" || !r.Result.Converged
}

// Run builds the big document, then, for each setup in turn (a single
// bbolt node, two nodes on one nats-server with replicas 1, two nodes on
// three nats-servers with replicas 3), starts it, replays the trace flat
// out and at typing speed with the writer on node 1 and the readers on
// node 2, and times a fresh client's first full sync of the big document
// on a node that never saw it. It prints one table (or JSON) to stdout and
// each run's details to stderr.
func Run(ctx context.Context, base workload.Config, o Options, stdout, stderr io.Writer) error {
	if _, err := os.Stat(o.WeftBin); err != nil {
		return fmt.Errorf("--weft-bin: %w (make bench-cluster builds it)", err)
	}
	if _, err := os.Stat(o.NATSBin); err != nil {
		return fmt.Errorf("--nats-bin: %w (make bin/nats-server builds it)", err)
	}
	fmt.Fprintf(stderr, "== building the big document (%s, %d transactions; 0: all)\n", base.Trace, o.OpenChanges)
	big, err := buildBigDoc(base.Trace, o.OpenChanges)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "   %d changes, %d bytes\n", big.changes, len(big.file))
	var rows []Row
	for _, s := range setups() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rs, err := runSetup(ctx, base, o, s, big, stderr)
		rows = append(rows, rs...)
		if err != nil {
			return err
		}
	}
	if o.JSON {
		if err := json.NewEncoder(stdout).Encode(rows); err != nil {
			return fmt.Errorf("writing JSON: %w", err)
		}
	} else {
		printTable(stdout, rows)
	}
	for _, r := range rows {
		if r.failed() {
			return errors.New("some workloads failed (see above)")
		}
	}
	return nil
}

// runSetup starts one setup and runs every workload on it.
func runSetup(ctx context.Context, base workload.Config, o Options, s setup, big *bigDoc, stderr io.Writer) ([]Row, error) {
	fmt.Fprintf(stderr, "== %s: starting\n", s.name)
	e, err := start(ctx, o, s)
	if err != nil {
		return nil, err
	}
	defer e.stop()
	e.quiet(ctx)
	var rows []Row
	for _, j := range replayJobs(base, o) {
		cfg := j.cfg
		cfg.URL = e.writerURL()
		if u := e.readerURL(); u != cfg.URL {
			cfg.ReaderURL = u
		}
		fmt.Fprintf(stderr, "== %s: %s\n", s.name, j.name)
		res, err := replay.Run(ctx, cfg)
		if err != nil {
			return rows, fmt.Errorf("%s on %s: %w\n%s", j.name, s.name, err, e.Log())
		}
		res.Label = s.name
		workload.Print(stderr, res)
		if res.Error != "" {
			fmt.Fprintf(stderr, "  logs (tail):\n%s\n", e.Log())
		}
		rows = append(rows, Row{Workload: j.name, Setup: s.name, Result: res})
		e.quiet(ctx)
	}
	opens, err := openJobs(ctx, e, big, stderr)
	return append(rows, opens...), err
}

// replayJob is one trace replay.
type replayJob struct {
	name string
	cfg  workload.Config
}

// replayJobs are the trace flat out and at typing speed.
func replayJobs(base workload.Config, o Options) []replayJob {
	flat, typing := base, base
	flat.Rate = 0
	typing.Changes, typing.Rate = o.TypingChanges, o.TypingRate
	return []replayJob{
		{fmt.Sprintf("trace replay, %d changes, %d readers, as fast as possible", flat.Changes, flat.Readers), flat},
		{fmt.Sprintf("typing, %d changes at %g/s, %d readers", typing.Changes, typing.Rate, typing.Readers), typing},
	}
}
