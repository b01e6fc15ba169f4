package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/peer"
	"github.com/weft-dev/weft/crdt"
)

// run holds what all peers of one trace workload share.
type run struct {
	ctx      context.Context
	fail     context.CancelCauseFunc
	timeout  time.Duration // for the error when ctx's deadline passes
	doc      string
	wire     peer.Wire
	stopping atomic.Bool
	progress chan struct{} // a reader got new changes, or the server acknowledged the writer
	loops    sync.WaitGroup

	readers []*reader // set before the replay starts

	mu    sync.Mutex
	peers []*peer.Peer
}

// newRun starts a run on ctx (which fail cancels); every connection is
// closed as soon as ctx is done.
func newRun(ctx context.Context, fail context.CancelCauseFunc, timeout time.Duration) *run {
	rn := &run{ctx: ctx, fail: fail, timeout: timeout, doc: crdt.NewDocumentID(), progress: make(chan struct{}, 1)}
	go func() { <-ctx.Done(); rn.closeAll() }()
	return rn
}

func (r *run) add(p *peer.Peer) {
	r.mu.Lock()
	r.peers = append(r.peers, p)
	r.mu.Unlock()
}

func (r *run) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.peers {
		p.Close()
	}
}

// goLoop runs a connection's read loop; stop waits for it.
func (r *run) goLoop(loop func()) {
	r.loops.Add(1)
	go func() { defer r.loops.Done(); loop() }()
}

// stop closes every connection and waits for the read loops to exit; the
// errors they see from then on are not the run's. It may be called again.
func (r *run) stop() {
	r.stopping.Store(true)
	r.closeAll()
	r.loops.Wait()
}

// failf ends the run with an error, unless it is already stopping.
func (r *run) failf(format string, args ...any) {
	if !r.stopping.Load() {
		r.fail(fmt.Errorf(format, args...))
	}
}

// cause returns why the run ended early if it did (a peer's failure, or
// the timeout), else err.
func (r *run) cause(err error) error {
	if c := context.Cause(r.ctx); c != nil && !errors.Is(c, context.Canceled) {
		if errors.Is(c, context.DeadlineExceeded) {
			return fmt.Errorf("timed out after %v (--timeout)", r.timeout)
		}
		return c
	}
	return err
}

// notify wakes a replay waiting for its window.
func (r *run) notify() {
	select {
	case r.progress <- struct{}{}:
	default:
	}
}
