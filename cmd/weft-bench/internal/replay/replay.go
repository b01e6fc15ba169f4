package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/peer"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/procstat"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
	"github.com/weft-dev/weft/crdt"
)

// Run replays a trace: one writer, cfg.Readers readers, one document. An
// error is returned only when the workload could not start; a failure
// during the replay is reported in the result.
func Run(parent context.Context, cfg workload.Config) (*workload.Result, error) {
	tr, plan, err := load(cfg)
	if err != nil {
		return nil, err
	}
	readerURL := cfg.ReaderURL
	if readerURL == "" {
		readerURL = cfg.URL
	}
	res := &workload.Result{Mode: "trace", URL: cfg.URL, ReaderURL: cfg.ReaderURL, Trace: cfg.Trace, Txns: plan.Txns, Rate: cfg.Rate, Window: cfg.Window,
		Reader: cfg.Readers, Changes: len(plan.Edits), Expected: len(plan.Edits) * cfg.Readers}

	tctx, cancelT := context.WithTimeout(parent, cfg.Timeout)
	defer cancelT()
	ctx, fail := context.WithCancelCause(tctx)
	defer fail(nil)
	rn := newRun(ctx, fail, cfg.Timeout)
	defer rn.stop()

	w, readers, err := rn.join(cfg.URL, readerURL, cfg.Readers, tr.StartContent, plan.Edits)
	if err != nil {
		return nil, err
	}
	tm, err := rn.measure(cfg, w, readers, res)
	if err != nil {
		return nil, err
	}
	rn.stop()
	figures(res, w, readers, tm)
	converge(res, w, readers, plan.Expected, tm.err)
	return res, nil
}

// load reads the trace and plans the replay of its first cfg.Changes
// transactions.
func load(cfg workload.Config) (*trace.Trace, *trace.Plan, error) {
	tr, err := trace.Load(cfg.Trace)
	if err != nil {
		return nil, nil, err
	}
	plan, err := tr.Plan(cfg.Changes)
	if err != nil {
		return nil, nil, err
	}
	if len(plan.Edits) == 0 {
		return nil, nil, errors.New("the replayed transactions change nothing")
	}
	return tr, plan, nil
}

// join connects the writer to url, which creates the document with the
// trace's start text and syncs it the normal way, then n readers to
// readerURL, which fetch it
// (request, then a full sync) and go light; then it lets the initial
// exchanges settle, so the server knows every peer in sync.
func (r *run) join(url, readerURL string, n int, start string, edits []trace.Edit) (*writer, []*reader, error) {
	tag := peer.RandomTag()
	w, err := newWriter(r, url, "weft-bench-writer-"+tag, start)
	if err != nil {
		return nil, nil, r.cause(fmt.Errorf("writer: %w", err))
	}
	setup := w.r.Heads()
	if err := w.prepare(edits); err != nil {
		return nil, nil, err
	}
	r.goLoop(w.readLoop)

	readers, err := r.joinReaders(readerURL, n, tag, setup, len(edits))
	if err != nil {
		return nil, nil, err
	}
	r.readers = readers
	for _, rd := range readers {
		r.goLoop(rd.lightLoop)
	}
	select {
	case <-time.After(200 * time.Millisecond):
	case <-r.ctx.Done():
		return nil, nil, r.cause(r.ctx.Err())
	}
	return w, readers, nil
}

// joinReaders connects n readers at once; each syncs up to the writer's
// setup heads and then expects want changes.
func (r *run) joinReaders(url string, n int, tag string, setup crdt.Heads, want int) ([]*reader, error) {
	readers := make([]*reader, n)
	errs := make([]error, n)
	var dial sync.WaitGroup
	for i := range readers {
		dial.Add(1)
		go func() {
			defer dial.Done()
			readers[i], errs[i] = newReader(r, url, fmt.Sprintf("weft-bench-reader-%d-%s", i, tag), setup, want)
		}()
	}
	dial.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, r.cause(fmt.Errorf("readers: %w", err))
	}
	return readers, nil
}

// timing is when the replay ran and when each change was due.
type timing struct {
	start, end time.Time
	sentAt     []time.Time // intended send time of change i
	hashes     []crdt.Hash // hash of change i
	err        error       // why the replay ended early, if it did
}

// measure replays the prepared changes and waits until every reader has
// them (or, without readers, the server acknowledged them), filling in the
// wire, tool CPU and server figures of res.
func (r *run) measure(cfg workload.Config, w *writer, readers []*reader, res *workload.Result) (*timing, error) {
	var smp *procstat.Sampler
	if cfg.PID > 0 {
		var err error
		if smp, err = procstat.StartSampler(cfg.PID, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	sent0, recv0 := r.wire.Sent.Load(), r.wire.Recv.Load()
	cpu0 := procstat.SelfCPU()
	tm := &timing{start: time.Now()}
	var werr error
	tm.sentAt, tm.hashes, werr = w.replay(cfg.Rate, cfg.Window, tm.start)
	if werr == nil {
		r.waitDelivered(w, readers)
	}
	tm.end = time.Now()
	res.ToolCPU = procstat.SelfCPU() - cpu0
	res.BytesSent, res.BytesReceived = r.wire.Sent.Load()-sent0, r.wire.Recv.Load()-recv0
	if smp != nil {
		cpu, peak, procs, err := smp.Stop()
		if err == nil {
			res.Server = &workload.ServerStats{PID: cfg.PID, CPUSeconds: cpu, PeakRSS: peak, Processes: procs}
		}
	}
	tm.err = r.cause(werr)
	return tm, nil
}

// waitDelivered waits until every reader has every change, or, without
// readers, until the server has acknowledged them all to the writer.
func (r *run) waitDelivered(w *writer, readers []*reader) {
	for _, rd := range readers {
		select {
		case <-rd.done:
		case <-r.ctx.Done():
		}
	}
	for len(readers) == 0 && int(w.acked.Load()) < len(w.changes) && r.ctx.Err() == nil {
		select {
		case <-r.progress:
		case <-time.After(10 * time.Millisecond):
		case <-r.ctx.Done():
		}
	}
}
