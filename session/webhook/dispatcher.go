package webhook

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
)

// Payload is the JSON body of a delivery.
type Payload struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	DocumentID string    `json:"documentId"`
	Time       time.Time `json:"time"`
	// Change deliveries: the heads after the changes (comma-separated hex,
	// the API's form) and the changes in the order applied.
	Heads   crdt.Heads        `json:"heads,omitempty"`
	Changes []crdt.ChangeMeta `json:"changes,omitempty"`
	// Join and leave deliveries.
	PeerID string `json:"peerId,omitempty"`
	User   string `json:"user,omitempty"`
}

// Delivery is one entry of the delivery log.
type Delivery struct {
	ID         string    `json:"id"`
	Hook       string    `json:"hook"` // URL without query or user info
	DocumentID string    `json:"documentId"`
	Type       string    `json:"type"`
	Changes    int       `json:"changes,omitempty"`
	Status     string    `json:"status"` // pending, retrying, delivered, failed, dropped, aborted
	Attempts   int       `json:"attempts"`
	StatusCode int       `json:"statusCode,omitempty"` // of the last attempt
	Error      string    `json:"error,omitempty"`      // of the last attempt
	Created    time.Time `json:"created"`
	Time       time.Time `json:"time"`               // of the last attempt (Created before any)
	DurationMs float64   `json:"durationMs"`         // of the last attempt
	NextRetry  time.Time `json:"nextRetry,omitzero"` // while retrying
}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusRetrying  = "retrying"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"  // gave up after MaxAttempts or MaxAge
	StatusDropped   = "dropped" // never sent: MaxQueued deliveries were waiting
	StatusAborted   = "aborted" // Close's context ended before it was delivered
)

// Metrics observes deliveries. Implementations must be safe for concurrent
// use and cheap. Hook is the redacted URL.
type Metrics interface {
	// Attempt is one HTTP request: its status code (0 on a network error),
	// whether it succeeded and how long it took.
	Attempt(hook string, code int, ok bool, d time.Duration)
	// Done is a delivery that ended: delivered, failed, dropped or aborted.
	Done(hook, status string, attempts int)
	// DroppedEvent is an event Handle could not queue.
	DroppedEvent()
}

type nopMetrics struct{}

func (nopMetrics) Attempt(string, int, bool, time.Duration) {}
func (nopMetrics) Done(string, string, int)                 {}
func (nopMetrics) DroppedEvent()                            {}

// Option adjusts a Dispatcher.
type Option func(*Dispatcher)

// WithMetrics reports deliveries to m.
func WithMetrics(m Metrics) Option { return func(d *Dispatcher) { d.metrics = m } }

// WithHTTPClient sends with c instead of a client of Config.Timeout that
// follows no redirects. Its CheckRedirect is replaced so that redirects
// are never followed.
func WithHTTPClient(c *http.Client) Option {
	return func(d *Dispatcher) {
		cc := *c
		cc.CheckRedirect = noRedirect
		d.client = &cc
	}
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

type hook struct {
	Hook
	name    string // redacted URL
	events  map[string]bool
	allDocs bool
	docs    map[string]bool
}

func (h *hook) wants(typ, doc string) bool {
	return h.events[typ] && (h.allDocs || h.docs[doc])
}

// Dispatcher turns session events into webhook deliveries. See the
// package documentation.
type Dispatcher struct {
	cfg     Config
	hooks   []*hook
	log     *slog.Logger
	metrics Metrics
	client  *http.Client

	in      chan item // Handle → run
	stop    chan struct{}
	stopped sync.Once
	closing atomic.Bool
	runDone chan struct{}
	dropped atomic.Uint64

	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	sem    chan struct{} // requests in flight
	wg     sync.WaitGroup

	mu      sync.Mutex // guards queues, queued and the log
	queues  map[queueKey]*queue
	queued  int
	ring    []*Delivery // the log, a ring of LogSize entries
	ringPos int
}

// item is an event in the payload's form.
type item struct {
	typ, doc   string
	time       time.Time
	heads      crdt.Heads
	changes    []crdt.ChangeMeta
	peer, user string
	// From a cluster's feed (HandleFeed): for hook only; its log sequences and the acks
	// to call once the delivery carrying it is finished.
	feed        bool
	hook        int
	first, last uint64
	acks        []func()
}

type queueKey struct {
	hook int
	doc  string
}

// queue is one hook's deliveries for one document, sent in order by one
// goroutine.
type queue struct {
	key   queueKey
	items []*pending
}

type pending struct {
	it      item // feed, first, last and acks
	p       Payload
	rec     *Delivery // in the log (possibly evicted from it)
	started bool
}

// New returns a running Dispatcher for cfg (validated by Load, or by
// cfg.Validate for a hand-built one). log may be nil.
func New(cfg Config, log *slog.Logger, opts ...Option) *Dispatcher {
	cfg.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dispatcher{
		cfg:     cfg,
		log:     log.With("component", "webhook"),
		metrics: nopMetrics{},
		in:      make(chan item, cfg.QueueSize),
		stop:    make(chan struct{}),
		runDone: make(chan struct{}),
		sem:     make(chan struct{}, cfg.Concurrency),
		queues:  map[queueKey]*queue{},
		ring:    make([]*Delivery, 0, cfg.LogSize),
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.client = &http.Client{Timeout: cfg.Timeout, CheckRedirect: noRedirect}
	for _, o := range opts {
		o(d)
	}
	if d.metrics == nil {
		d.metrics = nopMetrics{}
	}
	for _, h := range cfg.Hooks {
		hh := &hook{Hook: h, name: redact(h.URL), events: map[string]bool{}, docs: map[string]bool{}}
		evs := h.Events
		if len(evs) == 0 {
			evs = []string{session.EventChange}
		}
		for _, e := range evs {
			hh.events[e] = true
		}
		hh.allDocs = len(h.Docs) == 0
		for _, doc := range h.Docs {
			if doc == "*" {
				hh.allDocs = true
			}
			hh.docs[doc] = true
		}
		d.hooks = append(d.hooks, hh)
	}
	go d.run()
	return d
}

// Handle queues ev for delivery. It never blocks: it is called on document
// goroutines (Manager.Subscribe). Events no hook wants cost a few map
// lookups.
func (d *Dispatcher) Handle(ev session.Event) {
	if d.closing.Load() {
		return
	}
	wanted := false
	for _, h := range d.hooks {
		if h.wants(ev.Type, ev.Doc) {
			wanted = true
			break
		}
	}
	if !wanted {
		return
	}
	it := item{typ: ev.Type, doc: ev.Doc, time: ev.Time, peer: ev.Peer, user: ev.User}
	if it.time.IsZero() {
		it.time = time.Now()
	}
	if ev.Type == session.EventChange {
		// Copied here: the emitter owns ev's slices.
		it.heads = slices.Clone(ev.Heads)
		it.changes = slices.Clone(ev.Changes)
	}
	select {
	case d.in <- it:
	default:
		n := d.dropped.Add(1)
		d.metrics.DroppedEvent()
		if n&(n-1) == 0 { // 1, 2, 4, 8 …: visible without flooding the log
			d.log.Warn("webhook event queue full: events dropped", "dropped", n, "doc", ev.Doc, "type", ev.Type)
		}
	}
}

// Dropped returns how many events Handle dropped because its queue was full.
func (d *Dispatcher) Dropped() uint64 { return d.dropped.Load() }

// batch is a document's change events within the current debounce window.
type batch struct {
	gen  uint64
	it   item
	stop func() bool
}

// run collects events into per-document batches and hands finished ones
// to the hooks' queues.
func (d *Dispatcher) run() {
	defer close(d.runDone)
	batches := map[batchKey]*batch{}
	type dueMsg struct {
		key batchKey
		gen uint64
	}
	due := make(chan dueMsg, 64)
	var gen uint64
	flush := func(k batchKey) {
		if b := batches[k]; b != nil {
			b.stop()
			delete(batches, k)
			d.enqueue(b.it)
		}
	}
	add := func(it item) {
		if it.typ != session.EventChange {
			flush(batchKey{-1, it.doc}) // keep the document's events in order
			d.enqueue(it)
			return
		}
		k := it.batchKey()
		if b := batches[k]; b != nil {
			b.it.absorb(it)
			return
		}
		gen++
		b := &batch{gen: gen, it: it}
		msg := dueMsg{k, gen}
		t := time.AfterFunc(d.cfg.Debounce, func() {
			select {
			case due <- msg:
			case <-d.stop:
			}
		})
		b.stop = t.Stop
		batches[k] = b
	}
	for {
		select {
		case it := <-d.in:
			add(it)
		case m := <-due:
			if b := batches[m.key]; b != nil && b.gen == m.gen {
				flush(m.key)
			}
		case <-d.stop:
			// Close: take what Handle queued, flush every window now.
		drain:
			for {
				select {
				case it := <-d.in:
					add(it)
				default:
					break drain
				}
			}
			for k := range batches {
				flush(k)
			}
			return
		}
	}
}

// enqueue makes one delivery of it per hook that wants it.
func (d *Dispatcher) enqueue(it item) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	for hi, h := range d.hooks {
		if !h.wants(it.typ, it.doc) || (it.feed && hi != it.hook) {
			continue
		}
		key := queueKey{hi, it.doc}
		q := d.queues[key]
		if q != nil && it.typ == session.EventChange {
			// A change batch still waiting behind an attempt in progress
			// absorbs this one: same order, fewer requests.
			if last := q.items[len(q.items)-1]; !last.started && last.p.Type == session.EventChange && last.it.feed == it.feed {
				last.p.Changes = append(last.p.Changes, it.changes...)
				last.p.Heads, last.p.Time = it.heads, it.time.UTC()
				last.rec.Changes = len(last.p.Changes)
				last.it.last, last.it.acks = it.last, append(last.it.acks, it.acks...)
				continue
			}
		}
		p := &pending{it: item{feed: it.feed, first: it.first, last: it.last, acks: it.acks}, p: Payload{ID: newID(), Type: it.typ, DocumentID: it.doc, Time: it.time.UTC(),
			Heads: it.heads, Changes: slices.Clone(it.changes), PeerID: it.peer, User: it.user}}
		p.rec = &Delivery{ID: p.p.ID, Hook: h.name, DocumentID: it.doc, Type: it.typ, Changes: len(it.changes),
			Status: StatusPending, Created: now, Time: now}
		d.logLocked(p.rec)
		if d.queued >= d.cfg.MaxQueued && !it.feed { // the feed holds back instead (MaxAckPending)
			p.rec.Status, p.rec.Error = StatusDropped, fmt.Sprintf("%d deliveries already queued", d.queued)
			d.metrics.Done(h.name, StatusDropped, 0)
			d.log.Warn("webhook delivery dropped: queue full", "hook", h.name, "doc", it.doc, "id", p.p.ID, "queued", d.queued)
			continue
		}
		d.queued++
		if q == nil {
			q = &queue{key: key}
			d.queues[key] = q
			d.wg.Add(1)
			go d.sendQueue(q)
		}
		q.items = append(q.items, p)
	}
}

// sendQueue delivers q's items one at a time and exits when q is empty.
func (d *Dispatcher) sendQueue(q *queue) {
	defer d.wg.Done()
	h := d.hooks[q.key.hook]
	for {
		d.mu.Lock()
		if len(q.items) == 0 {
			delete(d.queues, q.key)
			d.mu.Unlock()
			return
		}
		p := q.items[0]
		p.started = true
		if p.it.feed {
			// The same entries redelivered after a node died get the same id.
			p.p.ID = feedID(h.URL, p.p.DocumentID, p.it.first, p.it.last)
			p.rec.ID = p.p.ID
		}
		d.mu.Unlock()

		d.deliver(h, p)

		d.mu.Lock()
		q.items[0] = nil
		q.items = q.items[1:]
		d.queued--
		d.mu.Unlock()
	}
}

// deliver sends one delivery, retrying until it succeeds or gives up.
func (d *Dispatcher) deliver(h *hook, p *pending) {
	body, err := json.Marshal(p.p)
	if err != nil { // cannot happen with these types
		d.finish(h, p, StatusFailed, fmt.Sprintf("encoding payload: %v", err))
		return
	}
	first := time.Now()
	for attempt := 1; ; attempt++ {
		code, retryAfter, err := d.attempt(h, p, body, attempt)
		if err == nil {
			d.finish(h, p, StatusDelivered, "")
			return
		}
		if d.ctx.Err() != nil {
			d.finish(h, p, StatusAborted, err.Error())
			return
		}
		delay := d.backoff(attempt, retryAfter)
		if attempt >= d.cfg.MaxAttempts || time.Since(first)+delay > d.cfg.MaxAge {
			d.log.Warn("webhook delivery failed, giving up", "hook", h.name, "doc", p.p.DocumentID, "id", p.p.ID,
				"attempts", attempt, "status", code, "err", err)
			d.finish(h, p, StatusFailed, err.Error())
			return
		}
		d.log.Info("webhook delivery failed, will retry", "hook", h.name, "doc", p.p.DocumentID, "id", p.p.ID,
			"attempt", attempt, "status", code, "err", err, "retry_in", delay)
		d.mu.Lock()
		p.rec.Status, p.rec.NextRetry = StatusRetrying, time.Now().Add(delay)
		d.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			d.finish(h, p, StatusAborted, "dispatcher closed before the retry")
			return
		}
	}
}

func (d *Dispatcher) finish(h *hook, p *pending, status, errMsg string) {
	d.mu.Lock()
	p.rec.Status, p.rec.NextRetry = status, time.Time{}
	if errMsg != "" && p.rec.Error == "" {
		p.rec.Error = errMsg
	}
	attempts := p.rec.Attempts
	acks := p.it.acks
	p.it.acks = nil
	d.mu.Unlock()
	d.metrics.Done(h.name, status, attempts)
	if status != StatusAborted { // an aborted one goes to another node
		for _, ack := range acks {
			ack()
		}
	}
}

// attempt makes one request. It returns the status code (0 without a
// response), a Retry-After hint, and nil on a 2xx.
func (d *Dispatcher) attempt(h *hook, p *pending, body []byte, n int) (int, time.Duration, error) {
	select {
	case d.sem <- struct{}{}:
	case <-d.ctx.Done():
		return 0, 0, d.ctx.Err()
	}
	defer func() { <-d.sem }()

	start := time.Now()
	ts := strconv.FormatInt(start.Unix(), 10)
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	var code int
	var retryAfter time.Duration
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "weft-webhook/1")
		req.Header.Set(HeaderDelivery, p.p.ID)
		req.Header.Set(HeaderEvent, p.p.Type)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(h.Secret, ts, body))
		var resp *http.Response
		resp, err = d.client.Do(req)
		if err == nil {
			code = resp.StatusCode
			// A short excerpt explains failures; draining lets the
			// connection be reused.
			snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			if code < 200 || code > 299 {
				err = fmt.Errorf("HTTP %d", code)
				if s := bytes.TrimSpace(snippet); len(s) > 0 {
					err = fmt.Errorf("HTTP %d: %s", code, s)
				}
				if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
					if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs > 0 {
						retryAfter = time.Duration(secs) * time.Second
					}
				}
			}
		}
	}
	el := time.Since(start)
	d.metrics.Attempt(h.name, code, err == nil, el)
	d.mu.Lock()
	p.rec.Attempts = n
	p.rec.StatusCode = code
	p.rec.Time = start
	p.rec.DurationMs = float64(el.Microseconds()) / 1000
	p.rec.Error = ""
	if err != nil {
		p.rec.Error = err.Error()
	}
	d.mu.Unlock()
	return code, retryAfter, err
}

// backoff is the delay after attempt n: RetryBase·2ⁿ⁻¹ capped at RetryMax,
// minus up to half of it at random (so that receivers coming back are not
// hit by every sender at once), and at least retryAfter (capped too).
func (d *Dispatcher) backoff(n int, retryAfter time.Duration) time.Duration {
	delay := d.cfg.RetryMax
	if n-1 < 32 {
		if v := d.cfg.RetryBase << (n - 1); v > 0 && v < delay {
			delay = v
		}
	}
	delay -= time.Duration(rand.Int64N(int64(delay)/2 + 1))
	return min(max(delay, retryAfter), d.cfg.RetryMax)
}

// Close stops taking events, delivers every pending debounce window at
// once, and waits for the queued deliveries (retries included) until ctx
// ends; then it aborts what is left and returns ctx's error. Call it after
// the session Manager's Shutdown, so that the last changes are delivered.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.stopped.Do(func() {
		d.closing.Store(true)
		close(d.stop)
	})
	<-d.runDone
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done
		return fmt.Errorf("webhook: close: %w", ctx.Err())
	}
}

// newID returns a delivery id: "wd_" and 24 hex digits.
func newID() string {
	var b [12]byte
	_, _ = cryptoRead(b[:])
	return "wd_" + hex.EncodeToString(b[:])
}

var cryptoRead = crand.Read
