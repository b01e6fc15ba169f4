package crdt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PoolOptions configures a Pool. The zero value is usable.
type PoolOptions struct {
	// Workers is the number of worker processes; zero means one per CPU.
	Workers int
	// Local bounds what each worker accepts.
	Local LocalOptions
	// Logger receives worker lifecycle events; nil discards them.
	Logger *slog.Logger
	// Command returns the command that starts one worker; nil re-executes
	// this binary (os.Executable) with the worker marker in its environment.
	// The command's main must call MaybeRunWorker first.
	Command func() *exec.Cmd
	// OnCrash is called (from a pool goroutine) after a worker died
	// unexpectedly, with the worker's index and a description.
	OnCrash func(worker int, why string)
}

// Pool is an Engine whose documents live in supervised worker processes,
// so that input that aborts automerge-rs kills a worker, never the caller.
// Each document is pinned to one worker by a hash of its id. When a worker
// dies, requests in flight fail with ErrCrashed, every document it held
// reports ErrNotOpen until reopened, and the worker is restarted (with
// backoff if it keeps dying).
type Pool struct {
	opts    PoolOptions
	log     *slog.Logger
	workers []*worker
	probe   *worker    // runs Probe requests, one at a time
	probeMu sync.Mutex // serializes probes, so a crash convicts one message
	closing atomic.Bool
	done    chan struct{} // closed by Shutdown
	wg      sync.WaitGroup
}

type worker struct {
	pool *Pool
	idx  int

	mu       sync.Mutex // guards everything below
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	w        *bufio.Writer
	gen      int
	nextID   uint64
	pending  map[uint64]chan response
	open     map[string]bool // documents open in the running process
	up       chan struct{}   // closed once a process is running
	deaths   []time.Time
	stderr   tail
	shutdown bool
}

// NewPool starts the worker processes.
func NewPool(opts *PoolOptions) (*Pool, error) {
	p := &Pool{done: make(chan struct{})}
	if opts != nil {
		p.opts = *opts
	}
	if p.opts.Workers <= 0 {
		p.opts.Workers = runtime.NumCPU()
	}
	p.log = p.opts.Logger
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.opts.Command == nil {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("crdt: finding own executable: %w", err)
		}
		lo := p.opts.Local
		p.opts.Command = func() *exec.Cmd {
			c := exec.Command(exe)
			c.Env = append(os.Environ(), workerEnv+"=1",
				"WEFT_CRDT_MAX_MESSAGE="+strconv.Itoa(lo.MaxMessage),
				"WEFT_CRDT_MAX_DOCUMENT="+strconv.Itoa(lo.MaxDocument))
			return c
		}
	}
	for i := 0; i <= p.opts.Workers; i++ {
		w := &worker{pool: p, idx: i, up: make(chan struct{})}
		if i == p.opts.Workers {
			p.probe = w
		} else {
			p.workers = append(p.workers, w)
		}
		if err := w.start(); err != nil {
			p.Shutdown()
			return nil, err
		}
	}
	return p, nil
}

func localOptsFromEnv() *LocalOptions {
	o := &LocalOptions{}
	o.MaxMessage, _ = strconv.Atoi(os.Getenv("WEFT_CRDT_MAX_MESSAGE"))
	o.MaxDocument, _ = strconv.Atoi(os.Getenv("WEFT_CRDT_MAX_DOCUMENT"))
	return o
}

// start launches a worker process; w.mu must not be held.
func (w *worker) start() error {
	cmd := w.pool.opts.Command()
	setDeathSignal(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("crdt: worker %d: %w", w.idx, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("crdt: worker %d: %w", w.idx, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("crdt: worker %d: %w", w.idx, err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("crdt: starting worker %d: %w", w.idx, err)
	}
	w.mu.Lock()
	if w.shutdown {
		w.mu.Unlock()
		cmd.Process.Kill()
		cmd.Wait()
		return ErrClosed
	}
	w.gen++
	gen := w.gen
	w.cmd, w.stdin, w.w = cmd, stdin, bufio.NewWriterSize(stdin, 1<<16)
	w.pending = map[uint64]chan response{}
	w.open = map[string]bool{}
	w.stderr.reset()
	close(w.up)
	w.mu.Unlock()
	w.pool.log.Debug("crdt worker started", "worker", w.idx, "pid", cmd.Process.Pid)

	var errDone sync.WaitGroup
	errDone.Add(1)
	w.pool.wg.Add(1)
	go func() {
		defer errDone.Done()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			w.mu.Lock()
			w.stderr.add(sc.Text())
			w.mu.Unlock()
		}
	}()
	go func() {
		defer w.pool.wg.Done()
		r := bufio.NewReaderSize(stdout, 1<<16)
		for {
			var resp response
			if err := readFrame(r, &resp); err != nil {
				break
			}
			w.mu.Lock()
			ch := w.pending[resp.ID]
			delete(w.pending, resp.ID)
			w.mu.Unlock()
			if ch != nil {
				ch <- resp
			}
		}
		errDone.Wait()
		werr := cmd.Wait()
		w.died(gen, werr)
	}()
	return nil
}

// Worker restarts: 20ms, 40ms, ... up to 1s after the second, third, ...
// death within 30 seconds; a restart that fails waits twice as long as the
// last wait, at least 100ms and at most 5s.
var (
	dyingBackoff   = Backoff{Base: 10 * time.Millisecond, Max: time.Second}
	restartBackoff = Backoff{Base: 100 * time.Millisecond, Max: 5 * time.Second}
)

// died fails everything in flight and restarts the worker.
func (w *worker) died(gen int, werr error) {
	w.mu.Lock()
	for _, ch := range w.pending {
		close(ch)
	}
	w.pending = map[uint64]chan response{}
	w.open = map[string]bool{}
	w.cmd = nil
	w.up = make(chan struct{})
	shutdown := w.shutdown || w.pool.closing.Load()
	why := fmt.Sprintf("%v", werr)
	if t := w.stderr.String(); t != "" {
		why += ": " + t
	}
	now := time.Now()
	recent := w.deaths[:0]
	for _, t := range w.deaths {
		if now.Sub(t) < 30*time.Second {
			recent = append(recent, t)
		}
	}
	w.deaths = append(recent, now)
	n := len(w.deaths)
	w.mu.Unlock()
	if shutdown {
		return
	}
	w.pool.log.Warn("crdt worker died", "worker", w.idx, "gen", gen, "why", why)
	if w.pool.opts.OnCrash != nil {
		w.pool.opts.OnCrash(w.idx, why)
	}
	// Restart at once the first time; back off gently when a worker keeps
	// dying (a ban stops the peer behind it soon enough).
	delay := time.Duration(0)
	if n > 1 {
		delay = dyingBackoff.Delay(n - 1)
	}
	w.pool.wg.Add(1)
	go func() {
		defer w.pool.wg.Done()
		for {
			select {
			case <-time.After(delay):
			case <-w.pool.done:
				return
			}
			err := w.start()
			if err == nil || errors.Is(err, ErrClosed) {
				return
			}
			w.pool.log.Error("crdt worker restart failed", "worker", w.idx, "err", err)
			delay = restartBackoff.Next(delay)
		}
	}()
}

func (p *Pool) pick(doc string) *worker {
	h := fnv.New32a()
	h.Write([]byte(doc))
	return p.workers[h.Sum32()%uint32(len(p.workers))]
}

// Worker returns the index of the worker a document is pinned to.
func (p *Pool) Worker(doc string) int { return int(p.pick(doc).idx) }

func (p *Pool) call(ctx context.Context, req request) (response, error) {
	return p.callOn(ctx, p.pick(req.Doc), req)
}

func (p *Pool) callOn(ctx context.Context, w *worker, req request) (response, error) {
	if p.closing.Load() {
		return response{}, ErrClosed
	}
	w.mu.Lock()
	for w.cmd == nil {
		up := w.up
		w.mu.Unlock()
		select {
		case <-up:
		case <-ctx.Done():
			return response{}, ctx.Err()
		}
		if p.closing.Load() {
			return response{}, ErrClosed
		}
		w.mu.Lock()
	}
	if req.Op != opOpen && req.Op != opProbe && !w.open[req.Doc] {
		w.mu.Unlock()
		return response{}, fmt.Errorf("%w: %s", ErrNotOpen, req.Doc)
	}
	if req.Op == opOpen || req.Op == opClose {
		// Until the answer arrives the document's state is unknown.
		delete(w.open, req.Doc)
	}
	w.nextID++
	req.ID = w.nextID
	ch := make(chan response, 1)
	w.pending[req.ID] = ch
	gen := w.gen
	err := writeFrame(w.w, req)
	if err != nil {
		delete(w.pending, req.ID)
	}
	w.mu.Unlock()
	if err != nil {
		// The worker is dead and not yet restarted; the request never
		// reached it. Wait for the new process: the document is then not
		// open there, which the caller handles by reopening it.
		if !w.waitNewGen(ctx, gen) {
			return response{}, fmt.Errorf("%w: writing to worker %d: %v", ErrCrashed, w.idx, err)
		}
		if req.Op == opOpen || req.Op == opProbe {
			return p.callOn(ctx, w, req)
		}
		return response{}, fmt.Errorf("%w: %s (worker %d restarted)", ErrNotOpen, req.Doc, w.idx)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return response{}, fmt.Errorf("%w: worker %d", ErrCrashed, w.idx)
		}
		if resp.Err == "" && req.Op == opOpen {
			w.mu.Lock()
			if w.gen == gen {
				w.open[req.Doc] = true
			}
			w.mu.Unlock()
		}
		return resp, errOf(resp.Kind, resp.Err)
	case <-ctx.Done():
		// The worker may have applied the request: the caller must
		// reopen the document before trusting its state again.
		w.mu.Lock()
		delete(w.open, req.Doc)
		w.mu.Unlock()
		return response{}, ctx.Err()
	}
}

// waitNewGen waits until a process newer than gen runs.
func (w *worker) waitNewGen(ctx context.Context, gen int) bool {
	for {
		w.mu.Lock()
		if w.gen != gen && w.cmd != nil {
			w.mu.Unlock()
			return true
		}
		up := w.up
		w.mu.Unlock()
		select {
		case <-up:
			if w.pool.closing.Load() {
				return false
			}
		case <-ctx.Done():
			return false
		case <-time.After(10 * time.Second):
			return false
		}
	}
}

// Open implements Engine.
func (p *Pool) Open(ctx context.Context, doc string, data []byte) (Heads, error) {
	resp, err := p.call(ctx, request{Op: opOpen, Doc: doc, Data: data})
	return unpackHeads(resp.Heads), err
}

// Receive implements Engine.
func (p *Pool) Receive(ctx context.Context, r Receive) (Result, error) {
	resp, err := p.call(ctx, request{Op: opReceive, Doc: r.Doc, Peer: r.Peer, Data: r.Msg, Peers: r.Others})
	if err != nil {
		return Result{}, err
	}
	return responseResult(resp), nil
}

// ReceiveAll implements Engine.
func (p *Pool) ReceiveAll(ctx context.Context, rs []Receive) ([]Result, []error, error) {
	if len(rs) == 0 {
		return nil, nil, nil
	}
	req := request{Op: opReceiveAll, Doc: rs[0].Doc, All: make([]request, len(rs))}
	for i, r := range rs {
		req.All[i] = request{Peer: r.Peer, Data: r.Msg, Peers: r.Others}
		if i > 0 && slices.Equal(r.Others, rs[i-1].Others) {
			req.All[i].Peers, req.All[i].SamePeers = nil, true
		}
	}
	resp, err := p.call(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if len(resp.All) != len(rs) {
		return nil, nil, fmt.Errorf("%w: %d answers for %d messages", ErrCrashed, len(resp.All), len(rs))
	}
	results := make([]Result, len(rs))
	errs := make([]error, len(rs))
	for i, sub := range resp.All {
		results[i], errs[i] = responseResult(sub), errOf(sub.Kind, sub.Err)
	}
	return results, errs, nil
}

func responseResult(resp response) Result {
	res := Result{Reply: resp.Data, Changes: resp.Changes, NChanges: resp.N,
		Heads: unpackHeads(resp.Heads), TheirHeads: unpackHeads(resp.Their), Others: unpackOut(resp.Out)}
	return res
}

// Merge implements Engine.
func (p *Pool) Merge(ctx context.Context, m Merge) (Result, error) {
	resp, err := p.call(ctx, request{Op: opMerge, Doc: m.Doc, Data: m.Data, Peers: m.Peers})
	if err != nil {
		return Result{}, err
	}
	return Result{Changes: resp.Changes, NChanges: resp.N, Heads: unpackHeads(resp.Heads),
		Waiting: resp.Waiting, Others: unpackOut(resp.Out)}, nil
}

// Generate implements Engine.
func (p *Pool) Generate(ctx context.Context, doc string, peers []string) ([]Outgoing, error) {
	resp, err := p.call(ctx, request{Op: opGenerate, Doc: doc, Peers: peers})
	return unpackOut(resp.Out), err
}

// SetPeer implements Engine.
func (p *Pool) SetPeer(ctx context.Context, doc, peer string, state []byte) error {
	_, err := p.call(ctx, request{Op: opSetPeer, Doc: doc, Peer: peer, Data: state, Nil: state == nil})
	return err
}

// PeerState implements Engine.
func (p *Pool) PeerState(ctx context.Context, doc, peer string) ([]byte, error) {
	resp, err := p.call(ctx, request{Op: opPeerState, Doc: doc, Peer: peer})
	return resp.Data, err
}

// DropPeer implements Engine.
func (p *Pool) DropPeer(ctx context.Context, doc, peer string) error {
	_, err := p.call(ctx, request{Op: opDropPeer, Doc: doc, Peer: peer})
	return err
}

// Save implements Engine.
func (p *Pool) Save(ctx context.Context, doc string) ([]byte, error) {
	resp, err := p.call(ctx, request{Op: opSave, Doc: doc})
	return resp.Data, err
}

// Heads implements Engine.
func (p *Pool) Heads(ctx context.Context, doc string) (Heads, error) {
	resp, err := p.call(ctx, request{Op: opHeads, Doc: doc})
	return unpackHeads(resp.Heads), err
}

// Contains implements Engine.
func (p *Pool) Contains(ctx context.Context, doc string, hs Heads) (bool, error) {
	resp, err := p.call(ctx, request{Op: opContains, Doc: doc, Data: packHeads(hs)})
	return resp.N == 1, err
}

// Probe implements Engine, in the pool's probe worker, one at a time.
func (p *Pool) Probe(ctx context.Context, data, msg []byte) error {
	p.probeMu.Lock()
	defer p.probeMu.Unlock()
	_, err := p.callOn(ctx, p.probe, request{Op: opProbe, Data: data, Msg: msg})
	return err
}

// Close implements Engine.
func (p *Pool) Close(ctx context.Context, doc string) error {
	_, err := p.call(ctx, request{Op: opClose, Doc: doc})
	if errors.Is(err, ErrNotOpen) {
		return nil
	}
	return err
}

// Shutdown stops every worker and waits for them. It is idempotent.
func (p *Pool) Shutdown() error {
	if p.closing.Swap(true) {
		p.wg.Wait()
		return nil
	}
	close(p.done)
	var timers []*time.Timer
	for _, w := range append(p.workers, p.probe) {
		if w == nil {
			continue
		}
		w.mu.Lock()
		w.shutdown = true
		if w.stdin != nil {
			w.stdin.Close() // the worker exits on EOF
		}
		cmd := w.cmd
		close(w.upOnce())
		w.mu.Unlock()
		if cmd != nil {
			// A worker stuck in a long call is killed.
			timers = append(timers, time.AfterFunc(5*time.Second, func() { cmd.Process.Kill() }))
		}
	}
	p.wg.Wait()
	for _, t := range timers {
		t.Stop()
	}
	return nil
}

// upOnce returns a channel that is safe to close: waiters blocked on a
// restarting worker wake up and see the pool closing.
func (w *worker) upOnce() chan struct{} {
	select {
	case <-w.up:
		return make(chan struct{})
	default:
		return w.up
	}
}

// Kill kills worker i with SIGKILL, for tests of the supervision path.
func (p *Pool) Kill(i int) error {
	w := p.workers[i]
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd == nil {
		return errors.New("crdt: worker not running")
	}
	return w.cmd.Process.Kill()
}

// tail keeps the last lines a worker wrote on stderr (a Rust panic
// message), for the crash log.
// It keeps the first lines (where Rust prints "panicked at ...") and the
// last few.
type tail struct{ head, last []string }

func (t *tail) add(s string) {
	if len(t.head) < 3 {
		t.head = append(t.head, s)
		return
	}
	t.last = append(t.last, s)
	if len(t.last) > 3 {
		t.last = t.last[1:]
	}
}
func (t *tail) reset() { t.head, t.last = nil, nil }
func (t *tail) String() string {
	return strings.Join(append(append([]string{}, t.head...), t.last...), " | ")
}
