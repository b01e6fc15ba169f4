package idle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/peer"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/procstat"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
)

// dialers is how many connections are opened at once.
const dialers = 8

// Run opens cfg.Conns joined connections that then stay idle (they only
// answer pings), and reports the growth of the server's resident memory
// per connection. An error is returned only when the workload could not
// start; a failure while connecting is reported in the result.
func Run(parent context.Context, cfg workload.Config) (*workload.Result, error) {
	if cfg.Conns <= 0 {
		return nil, errors.New("idle mode needs --conns > 0")
	}
	res := &workload.Result{Mode: "idle", URL: cfg.URL, Conns: cfg.Conns}
	ctx, cancel := context.WithTimeout(parent, cfg.Timeout)
	defer cancel()

	var before int64
	var smp *procstat.Sampler
	if cfg.PID > 0 {
		var err error
		if before, err = procstat.SteadyRSS(cfg.PID); err != nil {
			return nil, err
		}
		if smp, err = procstat.StartSampler(cfg.PID, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	p := &pool{ctx: ctx, url: cfg.URL, tag: peer.RandomTag()}
	defer p.closeAll()
	go func() { <-ctx.Done(); p.closeAll() }()

	cpu0 := procstat.SelfCPU()
	p.open(cfg.Conns)
	res.ToolCPU = procstat.SelfCPU() - cpu0
	res.BytesSent, res.BytesReceived = p.wire.Sent.Load(), p.wire.Recv.Load()
	opened, err := p.result()
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v (--timeout) with %d connections open", cfg.Timeout, opened)
	}
	if smp != nil {
		err = serverFigures(ctx, res, cfg.PID, smp, before, opened, err)
	}
	res.Conns = opened
	res.Converged = err == nil
	if err != nil {
		res.Error = err.Error()
	}
	return res, nil
}

// serverFigures lets the server settle, reads its memory while every
// connection is still open (unless err already failed the run) and stops
// the sampler. It returns err, or the error of reading the memory.
func serverFigures(ctx context.Context, res *workload.Result, pid int, smp *procstat.Sampler, before int64, opened int, err error) error {
	if err == nil {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
		if res.RSSAfter, err = procstat.SteadyRSS(pid); err == nil {
			res.RSSBefore = before
			res.BytesPerConn = (res.RSSAfter - before) / int64(max(opened, 1))
		}
	}
	cpu, peak, procs, serr := smp.Stop()
	if serr == nil {
		res.Server = &workload.ServerStats{PID: pid, CPUSeconds: cpu, PeakRSS: peak, Processes: procs}
	}
	return err
}

// pool is the idle connections of one run.
type pool struct {
	ctx  context.Context
	url  string
	tag  string
	wire peer.Wire

	mu    sync.Mutex
	conns []*peer.Peer
	first error // the first connection that failed
}

// open opens n connections, dialers at a time, and stops at the first
// failure or when the context ends.
func (p *pool) open(n int) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p.dial(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		p.mu.Lock()
		stop := p.first != nil || p.ctx.Err() != nil
		p.mu.Unlock()
		if stop {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// dial opens connection i with small buffers, joins, and keeps reading
// it (and so answering pings) until it is closed.
func (p *pool) dial(i int) {
	c, err := peer.Dial(p.ctx, p.url, fmt.Sprintf("weft-bench-idle-%d-%s", i, p.tag), &p.wire, 1024)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
		if p.first == nil {
			p.first = fmt.Errorf("connection %d: %w", i, err)
		}
	case p.ctx.Err() == nil:
		p.conns = append(p.conns, c)
		go c.Drain()
	default:
		c.Drop()
	}
}

// result is how many connections are open and the first failure.
func (p *pool) result() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns), p.first
}

func (p *pool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
