package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
)

// Config is one workload against one server.
type Config struct {
	URL     string
	Trace   string
	Changes int     // transactions of the trace to replay
	Readers int     // reader peers
	Rate    float64 // changes/s, open loop; 0 = as fast as possible
	Window  int     // most changes sent but not yet at every reader; 0 = no limit
	PID     int     // server pid (0: no server figures)
	Conns   int     // idle mode: connections to open
	Timeout time.Duration
}

// Result is what one workload measured. Durations are in milliseconds,
// sizes in bytes.
type Result struct {
	Mode   string  `json:"mode"`
	URL    string  `json:"url"`
	Label  string  `json:"label,omitempty"`
	Trace  string  `json:"trace,omitempty"`
	Txns   int     `json:"txns,omitempty"`
	Rate   float64 `json:"rate"`
	Window int     `json:"window"`
	Reader int     `json:"readers,omitempty"`

	Changes          int      `json:"changes,omitempty"`
	ElapsedSeconds   float64  `json:"elapsed_s,omitempty"`
	ChangesPerSec    float64  `json:"changes_per_s,omitempty"`
	DeliveriesPerSec float64  `json:"deliveries_per_s,omitempty"`
	Delivered        int      `json:"delivered,omitempty"`
	Expected         int      `json:"expected,omitempty"`
	Latency          *Latency `json:"latency_ms,omitempty"`
	Converged        bool     `json:"converged"`
	Diverged         []string `json:"diverged,omitempty"`
	TextLen          int      `json:"text_len,omitempty"`
	WriterMessages   int      `json:"writer_messages,omitempty"`
	WriterResyncs    int      `json:"writer_resyncs,omitempty"`
	WindowWaits      int      `json:"window_waits,omitempty"`
	ReaderAcks       int      `json:"reader_acks,omitempty"`
	ReaderMessages   int      `json:"reader_messages,omitempty"`

	Conns        int   `json:"conns,omitempty"`
	RSSBefore    int64 `json:"rss_before,omitempty"`
	RSSAfter     int64 `json:"rss_after,omitempty"`
	BytesPerConn int64 `json:"bytes_per_conn,omitempty"`

	BytesSent     int64        `json:"bytes_sent"`
	BytesReceived int64        `json:"bytes_received"`
	Server        *ServerStats `json:"server,omitempty"`
	ToolCPU       float64      `json:"tool_cpu_s"`
	Error         string       `json:"error,omitempty"`
}

// Latency is writer-to-reader latency from the intended send time.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ServerStats are the server's figures during the workload, its process
// and all its descendants together.
type ServerStats struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_s"`
	PeakRSS    int64   `json:"peak_rss"`
	Processes  int     `json:"processes"`
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.9999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func randomTag() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// run holds what all peers of one trace workload share.
type run struct {
	ctx      context.Context
	fail     context.CancelCauseFunc
	doc      string
	wire     wire
	stopping atomic.Bool
	progress chan struct{} // a reader got new changes, or the server acknowledged the writer

	readers []*reader // set before the replay starts

	mu    sync.Mutex
	peers []*peer
}

func (r *run) add(p *peer) {
	r.mu.Lock()
	r.peers = append(r.peers, p)
	r.mu.Unlock()
}

func (r *run) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.peers {
		p.close()
	}
}

// failf ends the run with an error, unless it is already stopping.
func (r *run) failf(format string, args ...any) {
	if !r.stopping.Load() {
		r.fail(fmt.Errorf(format, args...))
	}
}

// runTrace replays a trace: one writer, cfg.Readers readers, one document.
func runTrace(parent context.Context, cfg Config) (*Result, error) {
	tr, err := LoadTrace(cfg.Trace)
	if err != nil {
		return nil, err
	}
	plan, err := tr.Plan(cfg.Changes)
	if err != nil {
		return nil, err
	}
	if len(plan.Edits) == 0 {
		return nil, errors.New("the replayed transactions change nothing")
	}
	res := &Result{Mode: "trace", URL: cfg.URL, Trace: cfg.Trace, Txns: plan.Txns, Rate: cfg.Rate, Window: cfg.Window,
		Reader: cfg.Readers, Changes: len(plan.Edits), Expected: len(plan.Edits) * cfg.Readers}

	tctx, cancelT := context.WithTimeout(parent, cfg.Timeout)
	defer cancelT()
	ctx, fail := context.WithCancelCause(tctx)
	defer fail(nil)
	rn := &run{ctx: ctx, fail: fail, doc: crdt.NewDocumentID(), progress: make(chan struct{}, 1)}
	go func() { <-ctx.Done(); rn.closeAll() }()
	var loops sync.WaitGroup
	defer func() {
		rn.stopping.Store(true)
		rn.closeAll()
		loops.Wait()
	}()
	cause := func(err error) error {
		if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
			if errors.Is(c, context.DeadlineExceeded) {
				return fmt.Errorf("timed out after %v (--timeout)", cfg.Timeout)
			}
			return c
		}
		return err
	}
	tag := randomTag()

	// The writer creates the document with the trace's start text and
	// syncs it the normal way.
	w, err := newWriter(rn, cfg.URL, "weft-bench-writer-"+tag, tr.StartContent)
	if err != nil {
		return nil, cause(fmt.Errorf("writer: %w", err))
	}
	setup := w.r.Heads()
	if err := w.prepare(plan.Edits); err != nil {
		return nil, err
	}
	loops.Add(1)
	go func() { defer loops.Done(); w.readLoop() }()

	// Readers fetch it (request, then a full sync), then go light.
	readers := make([]*reader, cfg.Readers)
	errs := make([]error, cfg.Readers)
	var dial sync.WaitGroup
	for i := range readers {
		dial.Add(1)
		go func() {
			defer dial.Done()
			readers[i], errs[i] = newReader(rn, cfg.URL, fmt.Sprintf("weft-bench-reader-%d-%s", i, tag), setup, len(plan.Edits))
		}()
	}
	dial.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, cause(fmt.Errorf("readers: %w", err))
	}
	rn.readers = readers
	for _, rd := range readers {
		loops.Add(1)
		go func() { defer loops.Done(); rd.lightLoop() }()
	}
	// Let the initial exchanges settle, so the server knows every peer in sync.
	select {
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
		return nil, cause(ctx.Err())
	}

	var smp *sampler
	if cfg.PID > 0 {
		if smp, err = startSampler(cfg.PID, 50*time.Millisecond); err != nil {
			return nil, err
		}
	}
	sent0, recv0 := rn.wire.sent.Load(), rn.wire.recv.Load()
	cpu0 := selfCPU()
	start := time.Now()
	sentAt, hashes, werr := w.replay(cfg.Rate, cfg.Window, start)
	if werr == nil {
		for _, rd := range readers {
			select {
			case <-rd.done:
			case <-ctx.Done():
			}
		}
		// Without readers, wait for the server to acknowledge everything.
		for len(readers) == 0 && int(w.acked.Load()) < len(plan.Edits) && ctx.Err() == nil {
			select {
			case <-rn.progress:
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	end := time.Now()
	res.ToolCPU = selfCPU() - cpu0
	res.BytesSent, res.BytesReceived = rn.wire.sent.Load()-sent0, rn.wire.recv.Load()-recv0
	if smp != nil {
		cpu, peak, procs, err := smp.Stop()
		if err == nil {
			res.Server = &ServerStats{PID: cfg.PID, CPUSeconds: cpu, PeakRSS: peak, Processes: procs}
		}
	}
	runErr := cause(werr)
	rn.stopping.Store(true)
	rn.closeAll()
	loops.Wait()

	// Figures.
	index := make(map[crdt.Hash]int, len(hashes))
	for i, h := range hashes {
		index[h] = i
	}
	var lat []time.Duration
	last := start
	for _, rd := range readers {
		res.Delivered += rd.got
		res.ReaderAcks += rd.acks
		res.ReaderMessages += rd.msgs
		if !rd.doneAt.IsZero() && rd.doneAt.After(last) {
			last = rd.doneAt
		}
		for _, a := range rd.arrivals {
			if i, ok := index[a.hash]; ok {
				lat = append(lat, a.at.Sub(sentAt[i]))
			}
		}
	}
	if runErr != nil || len(readers) == 0 {
		last = end
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		res.Latency = &Latency{P50: ms(percentile(lat, 50)), P99: ms(percentile(lat, 99)), Max: ms(percentile(lat, 100))}
	}
	res.ElapsedSeconds = last.Sub(start).Seconds()
	if res.ElapsedSeconds > 0 {
		res.ChangesPerSec = float64(res.Delivered) / float64(max(cfg.Readers, 1)) / res.ElapsedSeconds
		res.DeliveriesPerSec = float64(res.Delivered) / res.ElapsedSeconds
		if len(readers) == 0 { // changes the server acknowledged
			res.ChangesPerSec = float64(w.acked.Load()) / res.ElapsedSeconds
		}
	}
	res.WriterResyncs, res.WriterMessages, res.WindowWaits = w.resyncs, w.msgs, w.waits

	// Convergence: the writer's text, then every reader's.
	res.TextLen = len([]rune(plan.Expected))
	res.Converged = true
	w.rmu.Lock()
	cerr := w.catchUp()
	w.rmu.Unlock()
	if t, err := w.r.Text("text"); cerr != nil || err != nil || t != plan.Expected {
		res.Converged = false
		res.Diverged = append(res.Diverged, "writer (the tool's own replica: a bug in weft-bench)")
	}
	res.Diverged = append(res.Diverged, checkReaders(readers, plan.Expected)...)
	if len(res.Diverged) > 0 {
		res.Converged = false
	}
	if runErr != nil {
		res.Error = runErr.Error()
		res.Converged = false
	}
	return res, nil
}

// checkReaders applies what each reader received to its replica and
// compares the text with the expected one. Readers holding the same set of
// changes (by hash, checked against their bytes on receipt) hold the same
// document, so each distinct set is applied once.
func checkReaders(readers []*reader, expected string) []string {
	type group struct {
		rd      *reader
		members []int
	}
	groups := map[[32]byte]*group{}
	var order [][32]byte
	for i, rd := range readers {
		hs := make([]crdt.Hash, 0, len(rd.hs.known))
		for h := range rd.hs.known {
			hs = append(hs, h)
		}
		sort.Slice(hs, func(a, b int) bool { return string(hs[a][:]) < string(hs[b][:]) })
		d := sha256.New()
		for _, h := range hs {
			d.Write(h[:])
		}
		var key [32]byte
		copy(key[:], d.Sum(nil))
		g := groups[key]
		if g == nil {
			g = &group{rd: rd}
			groups[key] = g
			order = append(order, key)
		}
		g.members = append(g.members, i)
	}
	var bad []string
	for _, k := range order {
		g := groups[k]
		text, err := g.rd.finalText()
		if err == nil && text == expected {
			continue
		}
		for _, i := range g.members {
			why := fmt.Sprintf("%d of %d changes, text differs", readers[i].got, readers[i].want)
			if err != nil {
				why = err.Error()
			}
			bad = append(bad, fmt.Sprintf("reader %d: %s", i, why))
		}
	}
	return bad
}

// writer is the one editing peer: a full Replica.
type writer struct {
	rn *run
	p  *peer

	rmu     sync.Mutex // the replica
	r       *crdt.Replica
	loaded  int          // prepared changes applied to r (under rmu)
	wmu     sync.Mutex   // writes to the connection
	resyncs int          // server messages that needed the sync machinery (under rmu)
	msgs    int          // sync messages from the server (under rmu)
	acked   atomic.Int64 // changes the server has acknowledged to the writer
	waits   int          // times the replay waited for the window

	// Written by prepare, before the connection's read loop starts; read
	// only afterwards.
	changes []prepared
	index   map[crdt.Hash]int
	sent    atomic.Int64 // changes sent so far
}

// prepared is one keystroke change, made before the clock starts.
type prepared struct {
	msg   []byte // the sync message that carries it
	chunk []byte // the change alone
	hash  crdt.Hash
}

// prepare commits every edit, each as one change, on a fork of the
// writer's replica before the clock starts: the trace is fixed, so the
// changes are too, and the tool's own Automerge work (about as costly as
// the server's apply) then does not compete with the server for the CPU
// while it is measured. What is sent, and when, is unchanged.
func (w *writer) prepare(edits []Edit) error {
	f, err := w.r.Fork()
	if err != nil {
		return err
	}
	w.changes = make([]prepared, 0, len(edits))
	for i, e := range edits {
		if err := f.SpliceText("text", e.Pos, e.Del, e.Insert); err != nil {
			return fmt.Errorf("edit %d %+v: %w", i, e, err)
		}
		hs := f.Heads()
		if len(hs) != 1 {
			return fmt.Errorf("edit %d: the writer has %d heads, want 1", i, len(hs))
		}
		w.changes = append(w.changes, prepared{msg: f.ChangeMessage(), chunk: f.LastChange(), hash: hs[0]})
		w.index[hs[0]] = i
	}
	return nil
}

// catchUp applies the changes sent so far to the writer's replica, before
// its sync state answers the server or its text is checked (under rmu).
func (w *writer) catchUp() error {
	n := int(w.sent.Load())
	if n <= w.loaded {
		return nil
	}
	chunks := make([][]byte, 0, n-w.loaded)
	for _, c := range w.changes[w.loaded:n] {
		chunks = append(chunks, c.chunk)
	}
	if err := w.r.ApplyChanges(chunks...); err != nil {
		return err
	}
	w.loaded = n
	return nil
}

// has reports whether the writer holds h (sent it, or had it at setup).
func (w *writer) has(h crdt.Hash) bool {
	if i, ok := w.index[h]; ok {
		return int64(i) < w.sent.Load()
	}
	return w.r.Has(h)
}

// newWriter joins, creates the document and syncs it until the server
// advertises the writer's heads.
func newWriter(rn *run, url, id, start string) (*writer, error) {
	p, err := dialPeer(rn.ctx, url, id, &rn.wire, 32<<10)
	if err != nil {
		return nil, err
	}
	rn.add(p)
	w := &writer{rn: rn, p: p, r: crdt.NewReplica(), index: map[crdt.Hash]int{}}
	if err := w.r.SpliceText("text", 0, 0, start); err != nil {
		return nil, err
	}
	msg, _ := w.r.GenerateMessage()
	if err := p.sendSync(session.TypeSync, rn.doc, msg); err != nil {
		return nil, err
	}
	for {
		m, err := p.read()
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case session.TypeSync:
			sm, err := parseSync(m.Data)
			if err != nil {
				return nil, err
			}
			if err := w.r.ReceiveMessage(m.Data); err != nil {
				return nil, err
			}
			if reply, ok := w.r.Reply(); ok {
				if err := p.sendSync(session.TypeSync, rn.doc, reply); err != nil {
					return nil, err
				}
			}
			if crdt.Heads(sm.heads).Equal(w.r.Heads()) {
				return w, nil
			}
		case session.TypeError:
			return nil, fmt.Errorf("server error: %s", m.Message)
		}
	}
}

// readLoop answers the server while the writer types. A message that only
// advertises heads the writer has, and needs nothing, is what a server
// sends while the writer's newest changes are in flight: a client that
// knows the server is in sync says nothing. Anything else goes through
// Automerge's sync state (ReceiveMessage, then the reply).
func (w *writer) readLoop() {
	for {
		m, err := w.p.read()
		if err != nil {
			w.rn.failf("writer connection: %w", err)
			return
		}
		switch m.Type {
		case session.TypeSync:
			sm, err := parseSync(m.Data)
			if err != nil {
				w.rn.failf("writer: %w", err)
				return
			}
			w.rmu.Lock()
			w.msgs++
			quiet := len(sm.need) == 0 && len(sm.changes) == 0
			for _, h := range sm.heads {
				quiet = quiet && w.has(h)
			}
			if len(sm.heads) == 1 {
				if i, ok := w.index[sm.heads[0]]; ok && int64(i+1) > w.acked.Load() {
					w.acked.Store(int64(i + 1))
					w.rn.notify()
				}
			}
			var reply []byte
			var ok bool
			if !quiet {
				w.resyncs++
				if err = w.catchUp(); err == nil {
					err = w.r.ReceiveMessage(m.Data)
				}
				if err == nil {
					reply, ok = w.r.Reply()
				}
			}
			w.rmu.Unlock()
			if err != nil {
				w.rn.failf("writer: %w", err)
				return
			}
			if ok {
				w.wmu.Lock()
				err = w.p.sendSync(session.TypeSync, w.rn.doc, reply)
				w.wmu.Unlock()
				if err != nil {
					w.rn.failf("writer: %w", err)
					return
				}
			}
		case session.TypeError:
			w.rn.failf("server error to the writer: %s", m.Message)
			return
		}
	}
}

// notify wakes a replay waiting for its window.
func (r *run) notify() {
	select {
	case r.progress <- struct{}{}:
	default:
	}
}

// delivered is how many changes have reached every reader (with no
// readers: how many the server has acknowledged to the writer).
func (w *writer) delivered() int {
	if len(w.rn.readers) == 0 {
		return int(w.acked.Load())
	}
	n := int64(-1)
	for _, rd := range w.rn.readers {
		if g := rd.progress.Load(); n < 0 || g < n {
			n = g
		}
	}
	return int(n)
}

// replay sends each prepared change with the heads (the keystroke message
// of a client in sync). With rate > 0 change i is due at start + i/rate
// (open loop); that is its intended send time. Otherwise the intended time
// is when it was sent. With window > 0 change i waits until change
// i-window has reached every reader.
func (w *writer) replay(rate float64, window int, start time.Time) (sentAt []time.Time, hashes []crdt.Hash, err error) {
	sentAt = make([]time.Time, 0, len(w.changes))
	hashes = make([]crdt.Hash, 0, len(w.changes))
	ctx := w.rn.ctx
	for i, c := range w.changes {
		var due time.Time
		if rate > 0 {
			due = start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return sentAt, hashes, ctx.Err()
				}
			}
		} else if ctx.Err() != nil {
			return sentAt, hashes, ctx.Err()
		}
		if window > 0 && i-w.delivered() >= window {
			w.waits++
			for i-w.delivered() >= window {
				select {
				case <-w.rn.progress:
				case <-time.After(50 * time.Millisecond):
				case <-ctx.Done():
					return sentAt, hashes, ctx.Err()
				}
			}
		}
		if rate <= 0 {
			due = time.Now()
		}
		sentAt, hashes = append(sentAt, due), append(hashes, c.hash)
		// Counted as sent before it leaves: the server's answer may come
		// back before Send returns.
		w.sent.Store(int64(i + 1))
		w.wmu.Lock()
		err = w.p.sendSync(session.TypeSync, w.rn.doc, c.msg)
		w.wmu.Unlock()
		if err != nil {
			return sentAt, hashes, fmt.Errorf("writer: %w", err)
		}
	}
	return sentAt, hashes, nil
}

type arrival struct {
	hash crdt.Hash
	at   time.Time
}

// reader is a peer that follows the document: a full sync first, then
// light mode.
type reader struct {
	rn   *run
	p    *peer
	r    *crdt.Replica // after the initial sync; the rest is applied at the end
	hs   *headSet
	want int

	progress atomic.Int64 // got, for the writer's window

	// Written by the reader's loop only; read after it has exited.
	got      int
	acks     int
	msgs     int
	arrivals []arrival
	chunks   [][]byte
	doneAt   time.Time
	done     chan struct{}
}

// newReader joins, requests the document and syncs with a full Replica
// until it holds the writer's setup heads.
func newReader(rn *run, url, id string, setup crdt.Heads, want int) (*reader, error) {
	p, err := dialPeer(rn.ctx, url, id, &rn.wire, 32<<10)
	if err != nil {
		return nil, err
	}
	rn.add(p)
	rd := &reader{rn: rn, p: p, r: crdt.NewReplica(), want: want, done: make(chan struct{})}
	msg, _ := rd.r.GenerateMessage()
	if err := p.sendSync(session.TypeRequest, rn.doc, msg); err != nil {
		return nil, err
	}
	for !rd.r.Heads().Equal(setup) {
		m, err := p.read()
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case session.TypeSync:
			if _, err := parseSync(m.Data); err != nil {
				return nil, err
			}
			if err := rd.r.ReceiveMessage(m.Data); err != nil {
				return nil, err
			}
			if reply, ok := rd.r.Reply(); ok {
				if err := p.sendSync(session.TypeSync, rn.doc, reply); err != nil {
					return nil, err
				}
			}
		case session.TypeDocUnavailable:
			return nil, errors.New("the server says the document is unavailable")
		case session.TypeError:
			return nil, fmt.Errorf("server error: %s", m.Message)
		}
	}
	rd.hs = newHeadSet(setup)
	return rd, nil
}

// lightLoop follows the live stream: for each sync message it records the
// arrival of the changes it carries and acknowledges its own heads, the
// way a client in sync answers. It answers a message that carries no
// changes only if the message advertises heads it lacks or needs
// something, so two peers in sync do not ping-pong acknowledgements.
func (rd *reader) lightLoop() {
	for {
		m, err := rd.p.read()
		now := time.Now()
		if err != nil {
			rd.rn.failf("reader %s: %w", rd.p.id, err)
			return
		}
		switch m.Type {
		case session.TypeSync:
		case session.TypeError:
			rd.rn.failf("server error to reader %s: %s", rd.p.id, m.Message)
			return
		default:
			continue
		}
		rd.msgs++
		sm, err := parseSync(m.Data)
		if err != nil {
			rd.rn.failf("reader %s: %w", rd.p.id, err)
			return
		}
		fresh := 0
		for _, c := range sm.changes {
			if rd.hs.add(c) {
				rd.arrivals = append(rd.arrivals, arrival{c.hash, now})
				rd.chunks = append(rd.chunks, c.raw)
				fresh++
			}
		}
		answer := len(sm.changes) > 0 || len(sm.need) > 0
		for _, h := range sm.heads {
			answer = answer || !rd.hs.known[h] && !rd.r.Has(h)
		}
		if answer {
			rd.acks++
			if err := rd.p.sendSync(session.TypeSync, rd.rn.doc, crdt.AckMessage(rd.hs.list())); err != nil {
				rd.rn.failf("reader %s: %w", rd.p.id, err)
				return
			}
		}
		rd.got += fresh
		if fresh > 0 {
			rd.progress.Store(int64(rd.got))
			rd.rn.notify()
		}
		if fresh > 0 && rd.got >= rd.want && rd.doneAt.IsZero() {
			rd.doneAt = now
			close(rd.done)
		}
	}
}

// finalText applies every change the reader received to its replica and
// returns the text.
func (rd *reader) finalText() (string, error) {
	if len(rd.chunks) > 0 {
		if err := rd.r.ReceiveMessage(buildSync(rd.hs.list(), rd.chunks)); err != nil {
			return "", err
		}
		rd.chunks = nil
	}
	if hs := rd.r.Heads(); !hs.Equal(rd.hs.list()) {
		return "", fmt.Errorf("replica heads %v differ from the heads received (%d changes)", hs, rd.got)
	}
	return rd.r.Text("text")
}
