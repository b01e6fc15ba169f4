package session

import (
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

type evKind int

const (
	evSync evKind = iota
	evEphemeral
	evLeave
	evResync // a read-only peer's changes were refused: restart its sync state
	// Not from a local peer; cl is nil.
	evRelayEphemeral // data: an ephemeral frame from another node
	evCatchUp        // the gap timer, or the relay reconnected: catch up from the store
	evCall           // an API call (call): run on the goroutine, answer after persist
	evCompacted      // a snapshot's load check came back (compacted; compact.go)
	evLogged         // logged: an entry of the shared log (sharedlog.go)
)

type event struct {
	kind evKind
	cl   *Client
	msg  Message
	data []byte
	at   time.Time // when it was posted, for the fan-out latency metric
	call *call
	// compacted is the compaction whose snapshot was checked (evCompacted).
	compacted *compaction
	// logged is the shared log's entry (evLogged), from follow number gen.
	logged storage.Logged
	gen    uint64
}

// local reports whether a local peer or an API caller posted the event:
// only their traffic keeps a document open (other nodes' does not, nor
// does the document's own compaction).
func (ev event) local() bool {
	switch ev.kind {
	case evSync, evEphemeral, evLeave, evResync, evCall:
		return true
	}
	return false
}

// maxBatch bounds how many queued events one persist round takes.
const maxBatch = 256

// brokenRetry is how long a document that failed to load stays failed
// before the next message tries again.
const brokenRetry = 10 * time.Second

// callTimeout bounds one engine or storage call.
const callTimeout = 60 * time.Second

// gapDelay is how long merged changes may wait for their dependencies
// before the document catches up from the store (doubling on each try
// while they keep waiting, up to gapMaxDelay).
const (
	gapDelay    = 250 * time.Millisecond
	gapMaxDelay = 30 * time.Second
	// unsyncedMaxDelay bounds the wait between resyncs of peers whose
	// changes a failed persist refused (storage unreachable).
	unsyncedMaxDelay = 2 * time.Second
)

// document is one open document. Its goroutine (run) owns every field
// below "goroutine-owned"; others reach it only through inbox.
type document struct {
	m      *Manager
	id     string
	log    *slog.Logger
	inbox  chan *event // pointers: a slot costs 8 bytes, not an event's 250
	stopCh chan struct{}
	stopMu sync.Once
	done   chan struct{}
	posted atomic.Int64 // events posted and not yet taken; see Manager.unload

	evict chan struct{} // the Manager asks an idle document to unload (budget)
	prev  *document     // the unloaded copy still closing; run waits for it
	acct  memAcct       // guarded by Manager.mu; see memory.go

	// goroutine-owned
	loaded   bool
	broken   error
	brokenAt time.Time
	heads    crdt.Heads
	peers    map[*Client]*docPeer
	byKey    map[string]*docPeer
	keys     []string // every peer's key (peerKeys); nil when the peers changed
	lastSeq  uint64
	changes  int
	snapSize int64
	incSize  int64
	dirty    bool // incrementals written since the last compaction check
	// compacting: a snapshot's load check is under way (compact.go)
	compacting bool

	// compaction triggers (goroutine-owned too)
	incCount  int  // incremental chunks stored since the last snapshot
	snapCount int  // snapshot chunks stored
	slowLoad  bool // the last load was slow: compact at the next check

	// memory (goroutine-owned too); see memory.go
	memLast    int64
	memAt      time.Time // when memLast was measured; zero: after a load
	memChanges int       // d.changes at memAt
	wasIdle    bool

	// cross-node state (goroutine-owned too); see relaying.go
	unsub   func() // the document's ephemeral subscription; nil when none
	gap     bool   // catch up: merged changes wait for dependencies, or a resync is due
	gapTry  int
	catchUp bool // caught up (once) in this batch
	// unsynced: a failed persist refused the peers' changes; resync them
	// at the next catch-up (relaying.go)
	unsynced bool
	refused  map[*Client]bool // peers whose changes were refused meanwhile

	mergeErr error // the last merge's engine error, for Upload

	// shared log state (goroutine-owned too); see sharedlog.go
	unfollow func()    // stops following the log; nil when not following
	followAt time.Time // the last Follow attempt
	logSeq   uint64    // the last log entry received (or covered by the loaded snapshot)
	known    uint64    // the highest snapshot coverage the engine is known to hold
	gen      uint64    // the current follow's number: older ones' entries are stale
}

func newDocument(m *Manager, id string) *document {
	return &document{
		m:      m,
		id:     id,
		log:    m.log.With("doc", id),
		inbox:  make(chan *event, 1024),
		stopCh: make(chan struct{}),
		evict:  make(chan struct{}, 1),
		done:   make(chan struct{}),
		peers:  map[*Client]*docPeer{},
		byKey:  map[string]*docPeer{},

		refused: map[*Client]bool{},
	}
}

func (d *document) stop() { d.stopMu.Do(func() { close(d.stopCh) }) }

func (d *document) run() {
	defer func() {
		close(d.done)
		d.m.closed(d)
	}()
	if d.prev != nil {
		// The previous copy is still closing (compacting, releasing its
		// engine copy): load after it, or its Close would drop ours.
		<-d.prev.done
		d.prev = nil
	}
	t := newDocTimers(d.m.cfg.IdleUnload)
	defer t.stop()
	// Grown as needed: sized up front it would be 60 KiB of stack (doubled
	// to 128 KiB) for every open document, busy or not.
	var batch []event
	for {
		select {
		case ev := <-d.inbox:
			batch = append(batch[:0], *ev)
			d.posted.Add(-1)
			batch = d.drain(batch)
			if !d.guard(func() { d.process(batch) }) {
				d.crashedIn(batch)
				return
			}
			d.processed(batch, t)
		case <-t.gap.C:
			t.gapArmed = false
			if d.gap {
				d.gapTry++
				if !d.guard(func() { d.process([]event{{kind: evCatchUp}}) }) {
					d.crashed()
					return
				}
				t.armGap(d) // still missing something: try again later
			}
		case <-t.quiet.C:
			if !d.guard(d.compactRound) {
				d.crashed()
				return
			}
		case <-t.idle.C:
			if len(d.peers) == 0 && !d.m.events.pinned(d.id) && d.m.unload(d) {
				d.guard(d.close)
				d.m.cfg.Metrics.Evicted("idle")
				return
			}
			t.idle.Reset(d.m.cfg.IdleUnload)
		case <-d.evict:
			if len(d.peers) == 0 && d.m.unload(d) {
				d.log.Debug("unloading idle document: over the memory budget")
				d.guard(d.close)
				d.m.cfg.Metrics.Evicted("budget")
				return
			}
			d.report(false) // still in use: let the Manager pick another
		case <-d.stopCh:
			d.finish()
			return
		}
	}
}

// docTimers are the run loop's timers: idle unload, the quiet second
// before a compaction check, and the wait before a catch-up for merged
// changes whose dependencies are missing.
type docTimers struct {
	idle, quiet, gap *time.Timer
	gapArmed         bool
}

func newDocTimers(idle time.Duration) *docTimers {
	t := &docTimers{idle: time.NewTimer(idle), quiet: time.NewTimer(time.Hour), gap: time.NewTimer(time.Hour)}
	t.gap.Stop()
	return t
}

func (t *docTimers) stop() {
	t.idle.Stop()
	t.quiet.Stop()
	t.gap.Stop()
}

// drain adds what else is queued to batch, up to maxBatch events.
func (d *document) drain(batch []event) []event {
	for len(batch) < maxBatch {
		select {
		case ev := <-d.inbox:
			batch = append(batch, *ev)
			d.posted.Add(-1)
		default:
			return batch
		}
	}
	return batch
}

// processed rearms the timers after a batch and reports the document's
// memory.
func (d *document) processed(batch []event, t *docTimers) {
	if slices.ContainsFunc(batch, func(ev event) bool { return ev.local() }) {
		// Other nodes' traffic alone does not keep a document open.
		t.idle.Reset(d.m.cfg.IdleUnload)
	}
	// Recency for the memory budget: a local peer's traffic, not its
	// leaving.
	d.report(slices.ContainsFunc(batch, func(ev event) bool { return ev.local() && ev.kind != evLeave }))
	if d.dirty {
		t.quiet.Reset(time.Second)
	}
	t.armGap(d)
}

// armGap starts the wait before the next catch-up, if one is due and not
// already waited for: doubling with each try, shorter while peers wait to
// resend what a failed persist refused.
func (t *docTimers) armGap(d *document) {
	if !d.gap || t.gapArmed {
		return
	}
	delay := min(gapDelay<<min(d.gapTry, 10), gapMaxDelay)
	if d.unsynced {
		delay = min(delay, unsyncedMaxDelay)
	}
	t.gap.Reset(delay)
	t.gapArmed = true
}

// finish handles what is still queued once the document is told to stop,
// then lets its peers go and closes it.
func (d *document) finish() {
	for {
		select {
		case ev := <-d.inbox:
			d.posted.Add(-1)
			if !d.guard(func() { d.process([]event{*ev}) }) {
				d.crashedIn([]event{*ev})
				return
			}
			continue
		default:
		}
		break
	}
	d.guard(func() {
		for cl := range d.peers {
			d.leave(cl)
		}
		d.close()
	})
}
