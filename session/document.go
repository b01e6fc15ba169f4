package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	// From the Relay (other nodes); cl is nil.
	evRelayChanges   // data: change chunks another node persisted
	evRelayEphemeral // data: an ephemeral frame from another node
	evCatchUp        // messages may have been lost, or a node was cut off
	evReconnect      // the relay reconnected: catch up, then poke the others
	evCall           // an API call (call): run on the goroutine, answer after persist
)

type event struct {
	kind evKind
	cl   *Client
	msg  Message
	data []byte
	at   time.Time // when it was posted, for the fan-out latency metric
	call *call
}

// relayed reports whether the event came from another node.
func (ev event) relayed() bool { return ev.kind >= evRelayChanges && ev.kind != evCall }

// maxBatch bounds how many queued events one persist round takes.
const maxBatch = 256

// brokenRetry is how long a document that failed to load stays failed
// before the next message tries again.
const brokenRetry = 10 * time.Second

// callTimeout bounds one engine or storage call.
const callTimeout = 60 * time.Second

// catchUpTimeout bounds one Relay.CatchUp; gapDelay is how long merged
// changes may wait for their dependencies before the document catches up
// (doubling on each try while they keep waiting, up to gapMaxDelay).
const (
	catchUpTimeout = 10 * time.Second
	gapDelay       = 250 * time.Millisecond
	gapMaxDelay    = 30 * time.Second
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

	// compaction triggers (goroutine-owned too)
	incCount  int  // incremental chunks stored since the last snapshot
	snapCount int  // snapshot chunks stored
	slowLoad  bool // the last load was slow: compact at the next check

	// memory (goroutine-owned too); see memory.go
	memLast    int64
	memAt      time.Time // when memLast was measured; zero: after a load
	memChanges int       // d.changes at memAt
	wasIdle    bool

	// relay state (goroutine-owned too); see relay.go
	unsub   func()       // the document's relay subscription; nil when none
	pub     bytes.Buffer // changes from local peers, published once durable
	gap     bool         // merged changes wait for dependencies
	gapTry  int
	poke    bool // poke the other nodes after this batch
	catchUp bool // catch up (once) in this batch

	mergeErr error // the last merge's engine error, for Upload
}

// relayHandler posts another node's messages to the document's inbox, so
// that its goroutine stays the only owner of its state.
type relayHandler struct{ d *document }

func (h relayHandler) RelayChanges(b []byte) { h.d.postRelay(event{kind: evRelayChanges, data: b}) }
func (h relayHandler) RelayEphemeral(b []byte) {
	h.d.postRelay(event{kind: evRelayEphemeral, data: b})
}
func (h relayHandler) RelayCatchUp() { h.d.postRelay(event{kind: evCatchUp}) }

func (d *document) postRelay(ev event) {
	d.posted.Add(1)
	select {
	case d.inbox <- &ev:
	case <-d.done:
		d.posted.Add(-1)
	}
}

type docPeer struct {
	cl *Client
}

// outMsg is a frame waiting for the batch's changes to be durable.
type outMsg struct {
	cl    *Client
	typ   string
	frame []byte
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
	idle := time.NewTimer(d.m.cfg.IdleUnload)
	defer idle.Stop()
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	gap := time.NewTimer(time.Hour)
	gap.Stop()
	defer gap.Stop()
	gapArmed := false
	// Grown as needed: sized up front it would be 60 KiB of stack (doubled
	// to 128 KiB) for every open document, busy or not.
	var batch []event
	for {
		select {
		case ev := <-d.inbox:
			batch = append(batch[:0], *ev)
			d.posted.Add(-1)
		drain:
			for len(batch) < maxBatch {
				select {
				case ev := <-d.inbox:
					batch = append(batch, *ev)
					d.posted.Add(-1)
				default:
					break drain
				}
			}
			if !d.guard(func() { d.process(batch) }) {
				d.crashedIn(batch)
				return
			}
			if slices.ContainsFunc(batch, func(ev event) bool { return !ev.relayed() }) {
				// Other nodes' traffic alone does not keep a document open.
				idle.Reset(d.m.cfg.IdleUnload)
			}
			// Recency for the memory budget: a local peer's traffic, not
			// its leaving.
			d.report(slices.ContainsFunc(batch, func(ev event) bool { return !ev.relayed() && ev.kind != evLeave }))
			if d.dirty {
				quiet.Reset(time.Second)
			}
			if d.gap && !gapArmed {
				gap.Reset(min(gapDelay<<min(d.gapTry, 10), gapMaxDelay))
				gapArmed = true
			}
		case <-gap.C:
			gapArmed = false
			if d.gap {
				d.gapTry++
				if !d.guard(func() { d.process([]event{{kind: evCatchUp}}) }) {
					d.crashed()
					return
				}
			}
		case <-quiet.C:
			if !d.guard(d.maybeCompact) {
				d.crashed()
				return
			}
		case <-idle.C:
			if len(d.peers) == 0 && !d.m.events.pinned(d.id) && d.m.unload(d) {
				d.guard(d.close)
				d.m.cfg.Metrics.Evicted("idle")
				return
			}
			idle.Reset(d.m.cfg.IdleUnload)
		case <-d.evict:
			if len(d.peers) == 0 && d.m.unload(d) {
				d.log.Debug("unloading idle document: over the memory budget")
				d.guard(d.close)
				d.m.cfg.Metrics.Evicted("budget")
				return
			}
			d.report(false) // still in use: let the Manager pick another
		case <-d.stopCh:
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
			return
		}
	}
}

func ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

// load reads the document from storage into the engine and returns the
// bytes it loaded.
func (d *document) load() ([]byte, error) {
	start := time.Now()
	chunks, err := d.m.cfg.Store.Load(d.id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	var data []byte
	d.incCount, d.snapCount = 0, 0
	if err == nil {
		data = make([]byte, 0, chunks.Bytes)
		for _, c := range chunks.Snapshots {
			data = append(data, c...)
			d.snapSize += int64(len(c))
		}
		for _, c := range chunks.Incrementals {
			data = append(data, c...)
			d.incSize += int64(len(c))
		}
		d.lastSeq = chunks.LastSeq
		d.incCount, d.snapCount = len(chunks.Incrementals), len(chunks.Snapshots)
		if meta, err := d.m.cfg.Store.Meta(d.id); err == nil {
			d.changes = meta.Changes
		}
	}
	heads, err := d.open(data)
	salvaged := errors.Is(err, crdt.ErrCorrupt)
	if salvaged {
		data, heads, err = d.salvage(chunks, err)
	}
	if err != nil {
		return nil, err
	}
	d.heads = heads
	d.loaded = true
	d.memAt = time.Time{}
	took := time.Since(start)
	d.m.cfg.Metrics.DocOpened(took)
	if d.incCount > 0 || d.snapCount > 1 {
		// A slow load from several chunks: fold them into one snapshot
		// (at the next quiet second) so the next load is one chunk.
		d.slowLoad = took > slowLoad
		d.dirty = d.dirty || d.slowLoad || d.incCount > maxIncrementals
	}
	if salvaged {
		// Fold what loaded into one snapshot at the next quiet second: the
		// bad chunk leaves the document (a copy stays set aside).
		d.slowLoad, d.dirty = true, true
	}
	d.log.Debug("document loaded", "bytes", len(data), "chunks", len(chunks.Snapshots)+len(chunks.Incrementals), "heads", len(heads), "took", took)
	return data, nil
}

func (d *document) process(batch []event) {
	if d.broken != nil && time.Since(d.brokenAt) > brokenRetry {
		// Try again: the failure may have been transient (a worker that
		// kept dying, a disk error).
		d.broken = nil
	}
	var (
		out     []outMsg
		changes bytes.Buffer
		n       int
		calls   []*call // answered once this batch's changes are durable
	)
	defer func() {
		r := recover()
		for _, c := range calls {
			if r != nil && c.err == nil {
				c.err = fmt.Errorf("%w: %w", ErrUnavailable, ErrInternal)
			}
			c.answered = true
			c.done <- c.err
		}
		if r != nil {
			panic(r) // to run's guard, which ends the document
		}
	}()
	if !d.loaded && d.broken == nil {
		d.snapSize, d.incSize = 0, 0
		// Subscribe first, load second, then catch up: what other nodes
		// publish meanwhile waits in the inbox (duplicates are harmless,
		// gaps are not).
		d.subscribe()
		if _, err := d.load(); err != nil {
			d.broken, d.brokenAt = err, time.Now()
			d.log.Error("document cannot be loaded", "err", err)
		} else if d.unsub != nil {
			d.catchUp = true
		}
	}
	if d.catchUp {
		out = d.doCatchUp(out, &changes, &n)
	}
	for i := 0; i < len(batch); i++ {
		ev := batch[i]
		switch ev.kind {
		case evSync:
			if d.broken != nil {
				ev.cl.fail(CloseInternal, "document "+d.id+" cannot be loaded on this server")
				continue
			}
			j := i + 1
			for j < len(batch) && batch[j].kind == evSync {
				j++
			}
			out = d.syncRun(batch[i:j], out, &changes, &n)
			i = j - 1
		case evEphemeral:
			out = d.ephemeral(ev, out)
		case evLeave:
			d.leave(ev.cl)
		case evResync:
			out = d.resync(ev.cl, out)
		case evRelayChanges:
			if d.loaded {
				out = d.merge(ev.data, out, &changes, &n)
			}
		case evRelayEphemeral:
			out = d.remoteEphemeral(ev.data, out)
		case evCall:
			calls = append(calls, ev.call)
			if d.broken != nil {
				ev.call.err = fmt.Errorf("%w: %w", ErrUnavailable, d.broken)
				continue
			}
			r := &round{out: out, changes: &changes, n: &n}
			ev.call.err = ev.call.fn(d, r)
			out = r.out
		case evReconnect:
			d.poke = true
			fallthrough
		case evCatchUp:
			if d.loaded && !d.catchUp {
				d.catchUp = true
				out = d.doCatchUp(out, &changes, &n)
			}
		}
	}
	d.catchUp = false
	if n > 0 {
		if err := d.persist(changes.Bytes(), n); err != nil {
			// Nothing that reflects these changes may leave. Reload what
			// is durable; peers resync and send their changes again.
			d.log.Error("persisting changes failed; reloading document", "err", err)
			for _, c := range calls {
				if c.err == nil && c.writes {
					c.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
				}
			}
			d.pub.Reset()
			d.recover(nil)
			return
		}
	}
	for _, o := range out {
		o.cl.sendFrame(o.typ, o.frame)
	}
	if n > 0 {
		d.changed(changes.Bytes())
	}
	if len(out) > 0 && !batch[0].at.IsZero() {
		d.m.cfg.Metrics.Fanout(time.Since(batch[0].at))
	}
	d.publish()
}

// subscribe joins the document's relay traffic; without a relay, or if
// the relay refuses, the document is served from this node alone.
func (d *document) subscribe() {
	r := d.m.cfg.Relay
	if r == nil || d.unsub != nil {
		return
	}
	cancel, err := r.Subscribe(d.id, relayHandler{d})
	if err != nil {
		d.log.Warn("relay subscription failed; serving this node's copy only", "err", err)
		return
	}
	d.unsub = cancel
}

// publish sends the changes local peers made, now durable, to the other
// nodes, and pokes them after a reconnect.
func (d *document) publish() {
	r := d.m.cfg.Relay
	if r == nil {
		return
	}
	if d.pub.Len() > 0 {
		ctx, cancel := ctxTimeout()
		if err := r.PublishChanges(ctx, d.id, bytes.Clone(d.pub.Bytes())); err != nil {
			// The others catch up when the relay is back (Poke).
			d.log.Warn("publishing changes failed", "err", err)
		}
		cancel()
		d.pub.Reset()
	}
	if d.poke {
		d.poke = false
		if err := r.Poke(d.id); err != nil {
			d.log.Warn("poking other nodes failed", "err", err)
		}
	}
}

// doCatchUp merges what the other nodes have of the document.
func (d *document) doCatchUp(out []outMsg, changes *bytes.Buffer, n *int) []outMsg {
	d.gap = false
	if d.m.cfg.Relay == nil {
		return out // one node: what is missing can only come from a peer
	}
	ctx, cancel := context.WithTimeout(context.Background(), catchUpTimeout)
	answers, err := d.m.cfg.Relay.CatchUp(ctx, d.id)
	cancel()
	if err != nil {
		d.log.Warn("catch-up from other nodes failed", "err", err)
	}
	if len(answers) == 0 {
		return out
	}
	before := *n
	out = d.merge(bytes.Join(answers, nil), out, changes, n)
	d.log.Debug("caught up from other nodes", "answers", len(answers), "changes", *n-before)
	return out
}

// merge applies chunks from other nodes and queues the sync messages
// they produce for the local peers. The changes are persisted with the
// batch, not published again.
func (d *document) merge(data []byte, out []outMsg, changes *bytes.Buffer, n *int) []outMsg {
	start := time.Now()
	ctx, cancel := ctxTimeout()
	res, err := d.m.cfg.Engine.Merge(ctx, crdt.Merge{Doc: d.id, Data: data, Peers: d.peerKeys()})
	cancel()
	d.mergeErr = err
	if err != nil {
		d.gap = true // what was lost here, a catch-up brings back
		if !(errors.Is(err, crdt.ErrNotOpen) || errors.Is(err, crdt.ErrCrashed)) {
			d.log.Warn("merging another node's changes failed", "err", err)
			return out
		}
		if *n > 0 {
			if perr := d.persist(changes.Bytes(), *n); perr != nil {
				d.log.Error("persisting before reload failed", "err", perr)
			}
			changes.Reset()
			*n = 0
		}
		out = out[:0]
		d.recover(&out)
		return out
	}
	d.m.cfg.Metrics.Applied(time.Since(start), res.NChanges)
	d.heads = res.Heads
	if res.Waiting > 0 {
		d.gap = true
	} else {
		d.gapTry = 0
	}
	if res.Changed() {
		changes.Write(res.Changes)
		*n += res.NChanges
	}
	for _, o := range res.Others {
		if p := d.byKey[o.Peer]; p != nil {
			out = append(out, d.syncFrame(p.cl, o.Msg))
		}
	}
	return out
}

// remoteEphemeral relays another node's ephemeral frame to local peers.
func (d *document) remoteEphemeral(frame []byte, out []outMsg) []outMsg {
	msg, err := Decode(frame)
	if err != nil || msg.Type != TypeEphemeral || msg.DocumentID != d.id {
		return out
	}
	for cl := range d.peers {
		if cl.peerID == msg.SenderID {
			continue
		}
		m := msg
		m.TargetID = cl.peerID
		out = append(out, outMsg{cl: cl, typ: TypeEphemeral, frame: Encode(m)})
	}
	return out
}

// persist appends change chunks durably (group-committed with every other
// document's writes).
func (d *document) persist(chunk []byte, n int) error {
	start := time.Now()
	ctx, cancel := ctxTimeout()
	defer cancel()
	seq, err := d.m.cfg.Store.Append(ctx, d.id, chunk, n)
	if err != nil {
		return err
	}
	d.m.cfg.Metrics.Persisted(time.Since(start))
	d.lastSeq = seq
	d.changes += n
	d.incSize += int64(len(chunk))
	d.incCount++
	d.dirty = true
	return nil
}

func (d *document) peer(cl *Client) *docPeer {
	if p, ok := d.peers[cl]; ok {
		return p
	}
	p := &docPeer{cl: cl}
	d.peers[cl] = p
	d.byKey[cl.key] = p
	d.keys = nil
	d.presence(EventJoin, cl)
	if cl.storageID != "" && len(d.heads) > 0 {
		// A returning peer resumes from the heads it shared last time.
		if state, err := d.m.cfg.Store.LoadSyncState(d.id, cl.storageID); err == nil {
			ctx, cancel := ctxTimeout()
			if err := d.m.cfg.Engine.SetPeer(ctx, d.id, cl.key, state); err != nil {
				d.log.Warn("stored sync state rejected", "peer", cl.peerID, "err", err)
			}
			cancel()
		}
	}
	return p
}

// othersFor lists the peers that may need a message after ev: none when
// ev carries no change (an acknowledgement cannot change the document),
// which keeps a crowd's acknowledgements from costing peers² work. The
// list includes the sender; the engine skips it.
func (d *document) othersFor(ev event) []string {
	if !crdt.CarriesChanges(ev.msg.Data) {
		return nil
	}
	return d.peerKeys()
}

// peerKeys lists every peer's engine key. The list is built once per
// change of the peer set and shared, never modified: every message of a
// burst names the same slice, which the engine's pipe sends once.
func (d *document) peerKeys() []string {
	if d.keys == nil && len(d.peers) > 0 {
		d.keys = make([]string, 0, len(d.peers))
		for c := range d.peers {
			d.keys = append(d.keys, c.key)
		}
	}
	return d.keys
}

func (d *document) sync(ev event, out []outMsg, changes *bytes.Buffer, n *int) []outMsg {
	cl := ev.cl
	if cl.closed.Load() {
		return out
	}
	d.peer(cl)
	start := time.Now()
	var (
		res crdt.Result
		err error
	)
	guilty := false
	for attempt := 0; attempt < 5; attempt++ {
		ctx, cancel := ctxTimeout()
		res, err = d.m.cfg.Engine.Receive(ctx, crdt.Receive{Doc: d.id, Peer: cl.key, Msg: ev.msg.Data, Others: d.othersFor(ev)})
		cancel()
		if err == nil || !(errors.Is(err, crdt.ErrNotOpen) || errors.Is(err, crdt.ErrCrashed)) {
			break
		}
		// The worker died, under this message or another document's.
		// Keep what this batch accepted so far, reload, and resync
		// everyone.
		crashed := errors.Is(err, crdt.ErrCrashed)
		if *n > 0 {
			if perr := d.persist(changes.Bytes(), *n); perr != nil {
				d.log.Error("persisting before reload failed", "err", perr)
			}
			changes.Reset()
			*n = 0
		}
		out = out[:0]
		data, rerr := d.recover(&out)
		if rerr != nil {
			cl.fail(CloseInternal, "document unavailable after an engine failure")
			return out
		}
		if crashed {
			d.m.cfg.Metrics.EngineCrash()
			// Other messages were in flight on that worker too: try this
			// one alone, in the probe worker, to know if it is guilty.
			ctx, cancel := ctxTimeout()
			perr := d.m.cfg.Engine.Probe(ctx, data, ev.msg.Data)
			cancel()
			if perr != nil {
				guilty = errors.Is(perr, crdt.ErrCrashed)
				err = perr
				break
			}
		}
	}
	if err != nil {
		d.reject(cl, err, guilty)
		return out
	}
	d.m.cfg.Metrics.Applied(time.Since(start), res.NChanges)
	return d.applied(ev, res, out, changes, n)
}

// applied takes in a message's result: new changes into the batch, replies
// and the other peers' messages into out.
func (d *document) applied(ev event, res crdt.Result, out []outMsg, changes *bytes.Buffer, n *int) []outMsg {
	cl := ev.cl
	d.heads = res.Heads
	if res.Changed() {
		changes.Write(res.Changes)
		*n += res.NChanges
		if d.m.cfg.Relay != nil {
			d.pub.Write(res.Changes)
		}
	}
	if res.Reply != nil {
		out = append(out, d.syncFrame(cl, res.Reply))
	}
	for _, o := range res.Others {
		if p := d.byKey[o.Peer]; p != nil {
			out = append(out, d.syncFrame(p.cl, o.Msg))
		}
	}
	if ev.msg.Type == TypeRequest && len(res.Heads) == 0 {
		// Keep the subscription: a later upload reaches this peer.
		out = append(out, outMsg{cl: cl, typ: TypeDocUnavailable, frame: Encode(Message{
			Type: TypeDocUnavailable, SenderID: d.m.peerID, TargetID: cl.peerID, DocumentID: d.id,
		})})
	}
	return out
}

// reject disconnects the sender of a message the engine refused.
func (d *document) reject(cl *Client, err error, guilty bool) {
	d.drop(cl)
	switch {
	case guilty:
		banned := d.m.strike(cl.peerID, cl.remote)
		d.log.Warn("sync message crashes the engine; disconnecting sender", "peer", cl.peerID, "remote", cl.remote, "banned", banned)
		cl.fail(CloseBadSyncMessage, "your sync message crashed the document engine")
	case errors.Is(err, crdt.ErrBadMessage), errors.Is(err, crdt.ErrTooLarge):
		d.log.Info("rejecting sync message", "peer", cl.peerID, "err", err)
		cl.fail(CloseBadSyncMessage, truncate("invalid sync message: "+err.Error(), 120))
	case errors.Is(err, crdt.ErrCrashed), errors.Is(err, crdt.ErrNotOpen):
		// Innocent, but the engine kept failing under other peers.
		d.log.Warn("engine kept failing; asking peer to reconnect", "peer", cl.peerID)
		cl.fail(CloseInternal, "engine restarting; reconnect")
	default:
		d.log.Error("sync failed", "peer", cl.peerID, "err", err)
		cl.fail(CloseInternal, "internal error")
	}
}

// syncRun applies consecutive sync messages in one engine call. If the
// call as a whole fails (a worker died), each message goes through sync,
// which recovers the document and finds the guilty message.
func (d *document) syncRun(run []event, out []outMsg, changes *bytes.Buffer, n *int) []outMsg {
	live := run[:0:0]
	for _, ev := range run {
		if !ev.cl.closed.Load() {
			d.peer(ev.cl)
			live = append(live, ev)
		}
	}
	if len(live) < 2 {
		for _, ev := range live {
			out = d.sync(ev, out, changes, n)
		}
		return out
	}
	rs := make([]crdt.Receive, len(live))
	for i, ev := range live {
		rs[i] = crdt.Receive{Doc: d.id, Peer: ev.cl.key, Msg: ev.msg.Data, Others: d.othersFor(ev)}
	}
	start := time.Now()
	ctx, cancel := ctxTimeout()
	results, errs, err := d.m.cfg.Engine.ReceiveAll(ctx, rs)
	cancel()
	if err != nil {
		for _, ev := range live {
			out = d.sync(ev, out, changes, n)
		}
		return out
	}
	per := time.Since(start) / time.Duration(len(live))
	for i, ev := range live {
		if errs[i] != nil {
			d.reject(ev.cl, errs[i], false)
			continue
		}
		if _, ok := d.peers[ev.cl]; !ok {
			continue // rejected earlier in this run
		}
		d.m.cfg.Metrics.Applied(per, results[i].NChanges)
		out = d.applied(ev, results[i], out, changes, n)
	}
	return out
}

func (d *document) syncFrame(cl *Client, data []byte) outMsg {
	return outMsg{cl: cl, typ: TypeSync, frame: Encode(Message{
		Type: TypeSync, SenderID: d.m.peerID, TargetID: cl.peerID, DocumentID: d.id, Data: data,
	})}
}

// recover reloads the document from storage after the engine lost it and
// restarts every peer's sync state; with out non-nil it appends a fresh
// sync message for each peer so they all resync. It returns the bytes the
// document was loaded from.
func (d *document) recover(out *[]outMsg) ([]byte, error) {
	mark := 0
	if out != nil {
		mark = len(*out)
	}
	for attempt := 0; ; attempt++ {
		data, err := d.reload(out)
		if err == nil || d.broken != nil {
			return data, err
		}
		if out != nil {
			*out = (*out)[:mark]
		}
		if !(errors.Is(err, crdt.ErrCrashed) || errors.Is(err, crdt.ErrNotOpen)) || attempt == 3 {
			// The peers' sync states were restarted but they got no
			// fresh message: left as they are they would wait for good.
			// Close them so that they reconnect and resync.
			d.log.Warn("resync after an engine failure failed", "err", err)
			for cl := range d.peers {
				cl.fail(CloseInternal, "engine restarting; reconnect")
			}
			return nil, err
		}
		// The worker died again while we reloaded (another document's
		// message, on a busy pool): give the restart a moment, as load does.
		time.Sleep(20 * time.Millisecond << attempt)
	}
}

func (d *document) reload(out *[]outMsg) ([]byte, error) {
	if d.loaded {
		d.m.cfg.Metrics.DocClosed() // load counts it open again
	}
	d.loaded = false
	d.snapSize, d.incSize = 0, 0
	data, err := d.load()
	if err != nil {
		d.broken, d.brokenAt = err, time.Now()
		d.log.Error("document cannot be reloaded", "err", err)
		for cl := range d.peers {
			cl.fail(CloseInternal, "document unavailable after an engine failure")
		}
		return nil, err
	}
	keys := make([]string, 0, len(d.peers))
	for cl := range d.peers {
		ctx, cancel := ctxTimeout()
		d.m.cfg.Engine.SetPeer(ctx, d.id, cl.key, nil)
		cancel()
		keys = append(keys, cl.key)
	}
	if out == nil {
		return data, nil
	}
	ctx, cancel := ctxTimeout()
	msgs, err := d.m.cfg.Engine.Generate(ctx, d.id, keys)
	cancel()
	if err != nil {
		return nil, err
	}
	for _, o := range msgs {
		if p := d.byKey[o.Peer]; p != nil {
			*out = append(*out, d.syncFrame(p.cl, o.Msg))
		}
	}
	return data, nil
}

// resync restarts cl's sync state (its last message was refused, so the
// two sides disagree about what it has) and queues a fresh sync message
// for it: the peer keeps receiving the document.
func (d *document) resync(cl *Client, out []outMsg) []outMsg {
	if cl.closed.Load() || !d.loaded || d.broken != nil {
		return out
	}
	d.peer(cl)
	ctx, cancel := ctxTimeout()
	defer cancel()
	if err := d.m.cfg.Engine.SetPeer(ctx, d.id, cl.key, nil); err != nil {
		d.log.Warn("resetting a peer's sync state failed", "peer", cl.peerID, "err", err)
		return out
	}
	msgs, err := d.m.cfg.Engine.Generate(ctx, d.id, []string{cl.key})
	if err != nil {
		d.log.Warn("generating a resync message failed", "peer", cl.peerID, "err", err)
		return out
	}
	for _, o := range msgs {
		out = append(out, d.syncFrame(cl, o.Msg))
	}
	return out
}

func (d *document) ephemeral(ev event, out []outMsg) []outMsg {
	for cl := range d.peers {
		if cl == ev.cl {
			continue
		}
		msg := ev.msg
		msg.TargetID = cl.peerID
		out = append(out, outMsg{cl: cl, typ: TypeEphemeral, frame: Encode(msg)})
	}
	if r := d.m.cfg.Relay; r != nil {
		if err := r.PublishEphemeral(d.id, Encode(ev.msg)); err != nil {
			d.log.Debug("relaying ephemeral message failed", "err", err)
		}
	}
	return out
}

// leave forgets a disconnected peer, keeping its shared heads for next
// time if it has durable storage.
func (d *document) leave(cl *Client) {
	if _, ok := d.peers[cl]; !ok {
		return
	}
	if cl.storageID != "" && d.loaded && len(d.heads) > 0 {
		ctx, cancel := ctxTimeout()
		state, err := d.m.cfg.Engine.PeerState(ctx, d.id, cl.key)
		if err == nil && len(state) > 0 {
			err = d.m.cfg.Store.SaveSyncState(ctx, d.id, cl.storageID, state)
		}
		cancel()
		if err != nil {
			d.log.Warn("saving sync state failed", "peer", cl.peerID, "err", err)
		}
	}
	d.drop(cl)
}

func (d *document) drop(cl *Client) {
	if d.loaded {
		ctx, cancel := ctxTimeout()
		d.m.cfg.Engine.DropPeer(ctx, d.id, cl.key)
		cancel()
	}
	if _, ok := d.peers[cl]; ok {
		d.presence(EventLeave, cl)
	}
	delete(d.byKey, cl.key)
	delete(d.peers, cl)
	d.keys = nil
}

// Loads slower than slowLoad, or from more than maxIncrementals change
// chunks, compact the document even when its snapshot outweighs them:
// loading one snapshot is much faster than replaying many changes.
// (Variables for tests.)
var (
	slowLoad        = 500 * time.Millisecond
	maxIncrementals = 256
)

// maybeCompact folds the stored chunks into one snapshot when the
// incremental chunks outweigh it (automerge-repo's rule, PROTOCOL.md §7),
// are many, or the document loaded slowly.
func (d *document) maybeCompact() {
	if !d.dirty || !d.loaded || d.broken != nil {
		return
	}
	d.dirty = false
	if d.incSize < d.snapSize && d.snapSize >= 1024 && d.incCount <= maxIncrementals && !d.slowLoad {
		return
	}
	if d.incCount == 0 && d.snapCount <= 1 {
		d.slowLoad = false // already one snapshot: nothing to fold
		return
	}
	ctx, cancel := ctxTimeout()
	defer cancel()
	snap, err := d.m.cfg.Engine.Save(ctx, d.id)
	if errors.Is(err, crdt.ErrDamaged) {
		// The change chunks load; a snapshot of them would not. Keep them.
		d.damage("snapshot", err)
		return
	}
	if errors.Is(err, crdt.ErrNotOpen) {
		// Its worker restarted; reload on the next event.
		d.loaded = false
		d.m.cfg.Metrics.DocClosed()
		return
	}
	if err != nil {
		d.log.Warn("compaction: save failed", "err", err)
		return
	}
	if err := d.m.cfg.Store.Compact(ctx, d.id, snap, d.lastSeq, d.changes); err != nil {
		d.log.Warn("compaction failed", "err", err)
		return
	}
	d.snapSize, d.incSize = int64(len(snap)), 0
	d.incCount, d.snapCount, d.slowLoad = 0, 1, false
	d.log.Debug("compacted", "bytes", len(snap))
}

// close compacts if due, leaves the relay and releases the engine's copy.
func (d *document) close() {
	if d.unsub != nil {
		d.unsub()
		d.unsub = nil
	}
	d.maybeCompact()
	if d.loaded {
		ctx, cancel := ctxTimeout()
		d.m.cfg.Engine.Close(ctx, d.id)
		cancel()
		d.m.cfg.Metrics.DocClosed()
	}
	d.loaded = false
}
