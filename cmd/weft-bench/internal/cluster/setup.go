package cluster

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/launch"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/procstat"
)

// setup is one way of running weft: a single node on bbolt, or nodes on a
// JetStream of some servers and replicas.
type setup struct {
	name     string // with two nodes
	servers  int    // nats-servers; 0: a single node on bbolt, no NATS
	replicas int
}

func (s setup) cluster() bool { return s.servers > 0 }

// label names the setup with n weft nodes running.
func (s setup) label(n int) string {
	if !s.cluster() {
		return s.name
	}
	servers := "1 nats-server"
	if s.servers > 1 {
		servers = fmt.Sprintf("%d nats-servers", s.servers)
	}
	return fmt.Sprintf("%d nodes, %s, replicas %d", n, servers, s.replicas)
}

// setups are the three compared: a single bbolt node, two nodes on one
// nats-server (replicas 1), two nodes on a cluster of three (replicas 3).
func setups() []setup {
	ss := []setup{
		{name: "single node, bbolt"},
		{servers: 1, replicas: 1},
		{servers: 3, replicas: 3},
	}
	for i := range ss {
		if ss[i].cluster() {
			ss[i].name = ss[i].label(2)
		}
	}
	return ss
}

// env is a running setup: its NATS (if any) and weft nodes.
type env struct {
	s     setup
	bin   string
	nats  *NATS
	nodes []*launch.Server
	data  string // the single node's data directory, kept across its restart
}

// start starts the setup's NATS and its first nodes: one for bbolt, two
// for a cluster.
func start(ctx context.Context, o Options, s setup) (*env, error) {
	e := &env{s: s, bin: o.WeftBin}
	if !s.cluster() {
		dir, err := os.MkdirTemp("", "weft-bench-single-")
		if err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		e.data = dir
		if _, err := e.addNode(); err != nil {
			e.stop()
			return nil, err
		}
		return e, nil
	}
	var err error
	if e.nats, err = StartNATS(ctx, o.NATSBin, s.servers); err != nil {
		return nil, err
	}
	for range 2 {
		if _, err := e.addNode(); err != nil {
			e.stop()
			return nil, err
		}
	}
	if err := e.nats.CheckReplicas(ctx, s.replicas); err != nil {
		e.stop()
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	return e, nil
}

// addNode starts one more weft node: on the single node's data
// directory, or on NATS with an empty data directory of its own.
func (e *env) addNode() (*launch.Server, error) {
	o := launch.WeftOptions{Name: fmt.Sprintf("weft node %d", len(e.nodes)+1), Data: e.data}
	if e.s.cluster() {
		o.Args = []string{"--nats", e.nats.URLs(), "--replicas", strconv.Itoa(e.s.replicas),
			"--nats-wait", "30s", "--node-id", fmt.Sprintf("bench-node%d", len(e.nodes)+1)}
	}
	n, err := launch.WeftWith(e.bin, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.s.name, err)
	}
	e.nodes = append(e.nodes, n)
	return n, nil
}

// writerURL and readerURL are where a replay's writer and readers
// connect: nodes 1 and 2 of a cluster, the one node otherwise.
func (e *env) writerURL() string { return e.nodes[0].URL }

func (e *env) readerURL() string { return e.nodes[len(e.nodes)-1].URL }

// stopNode stops node i (its temporary data directory goes with it).
func (e *env) stopNode(i int) {
	if e.nodes[i] != nil {
		e.nodes[i].Stop()
		e.nodes[i] = nil
	}
}

// live is the number of nodes running.
func (e *env) live() int {
	n := 0
	for _, s := range e.nodes {
		if s != nil {
			n++
		}
	}
	return n
}

// Log is the tail of every process's output, for error reports.
func (e *env) Log() string {
	var b strings.Builder
	for _, n := range e.nodes {
		if n != nil {
			fmt.Fprintf(&b, "-- %s:\n%s\n", n.Name, n.Log())
		}
	}
	if e.nats != nil {
		b.WriteString(e.nats.Log())
	}
	return b.String()
}

// stop stops every node, then NATS, and removes their directories.
func (e *env) stop() {
	for i := range e.nodes {
		e.stopNode(i)
	}
	if e.nats != nil {
		e.nats.Stop()
	}
	if e.data != "" {
		os.RemoveAll(e.data)
	}
}

// quiet waits (20 s at most) until the setup's processes together use
// under a tenth of a core over half a second: an upload or a start still
// being digested (a snapshot written, a stream caught up) must not count
// against the next measurement.
func (e *env) quiet(ctx context.Context) {
	var pids []int
	for _, n := range e.nodes {
		if n != nil {
			pids = append(pids, n.PID())
		}
	}
	if e.nats != nil {
		for _, s := range e.nats.servers {
			pids = append(pids, s.PID())
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var smps []*procstat.Sampler
		for _, p := range pids {
			if s, err := procstat.StartSampler(p, 100*time.Millisecond); err == nil {
				smps = append(smps, s)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
		cpu := 0.0
		for _, s := range smps {
			c, _, _, _ := s.Stop()
			cpu += c
		}
		if cpu < 0.05 {
			return
		}
	}
}
