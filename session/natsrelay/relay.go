package natsrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weft-dev/weft/session"
)

// Header names and subject prefixes; see the package documentation.
const (
	HeaderNode  = "Weft-Node"
	HeaderPart  = "Weft-Part"
	HeaderEvent = "Weft-Event"

	docPrefix     = "weft.doc."
	catchUpPrefix = "weft.catchup."
	nodeSubject   = "weft.node"
)

// Options configures a Relay; the zero value is usable.
type Options struct {
	// Logger receives relay events; nil discards them.
	Logger *slog.Logger
	// Gather bounds how long CatchUp waits for answers; zero means 2s.
	Gather time.Duration
	// Heartbeat is the membership beat; a node silent for three beats is
	// no longer waited for. Zero means 1s.
	Heartbeat time.Duration
	// OnPanic, if set, counts a panic recovered in a message handler.
	OnPanic func()
}

// Relay is a session.Relay over one NATS connection.
type Relay struct {
	nc   *nats.Conn
	id   string
	log  *slog.Logger
	opts Options

	mu          sync.Mutex // guards the fields below
	subs        map[*nats.Subscription]session.RelayHandler
	peers       map[string]time.Time // live nodes: id → last heard
	onReconnect []func()
	dirty       map[string]bool // documents whose publication failed
	serveSub    *nats.Subscription
	nodeSub     *nats.Subscription
	closed      bool

	stop chan struct{}
	wg   sync.WaitGroup
}

var _ session.Relay = (*Relay)(nil)

// New returns a relay for the node nodeID over nc. It announces the node
// and waits briefly for the others to answer, so that its first catch-up
// knows whom to wait for.
func New(nc *nats.Conn, nodeID string, opts *Options) (*Relay, error) {
	if nodeID == "" || strings.ContainsAny(nodeID, " \t\r\n") {
		return nil, fmt.Errorf("natsrelay: invalid node id %q", nodeID)
	}
	r := &Relay{nc: nc, id: nodeID, subs: map[*nats.Subscription]session.RelayHandler{},
		peers: map[string]time.Time{}, dirty: map[string]bool{}, stop: make(chan struct{})}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.Gather <= 0 {
		r.opts.Gather = 2 * time.Second
	}
	if r.opts.Heartbeat <= 0 {
		r.opts.Heartbeat = time.Second
	}
	r.log = r.opts.Logger
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("node", nodeID)

	sub, err := nc.Subscribe(nodeSubject, r.onNode)
	if err != nil {
		return nil, fmt.Errorf("natsrelay: subscribing to %s: %w", nodeSubject, err)
	}
	r.nodeSub = sub
	prevReconnect := nc.ReconnectHandler()
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prevReconnect != nil {
			prevReconnect(c)
		}
		r.reconnected()
	})
	prevErr := nc.ErrorHandler()
	nc.SetErrorHandler(func(c *nats.Conn, s *nats.Subscription, err error) {
		if prevErr != nil {
			prevErr(c, s, err)
		}
		r.asyncError(s, err)
	})
	r.announce("hello")
	if nc.IsConnected() {
		nc.FlushTimeout(time.Second)
		select {
		case <-time.After(min(r.opts.Gather, 150*time.Millisecond)):
		case <-r.stop:
		}
	}
	r.wg.Add(1)
	go r.beat()
	return r, nil
}

// ID returns the node id.
func (r *Relay) ID() string { return r.id }

// Flush waits until the server has processed everything sent so far
// (subscriptions included).
func (r *Relay) Flush() error { return r.nc.FlushTimeout(5 * time.Second) }

func (r *Relay) msg(subject string, data []byte) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set(HeaderNode, r.id)
	m.Data = data
	return m
}

func (r *Relay) announce(event string) {
	m := r.msg(nodeSubject, nil)
	m.Header.Set(HeaderEvent, event)
	if err := r.nc.PublishMsg(m); err != nil {
		r.log.Debug("membership announcement failed", "event", event, "err", err)
	}
}

func (r *Relay) beat() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.announce("beat")
			r.mu.Lock()
			for id, seen := range r.peers {
				if time.Since(seen) > 3*r.opts.Heartbeat {
					delete(r.peers, id)
				}
			}
			r.mu.Unlock()
		}
	}
}

func (r *Relay) onNode(m *nats.Msg) {
	defer r.recoverPanic(m.Subject)
	from := m.Header.Get(HeaderNode)
	if from == "" || from == r.id {
		return
	}
	r.mu.Lock()
	_, known := r.peers[from]
	switch m.Header.Get(HeaderEvent) {
	case "bye":
		delete(r.peers, from)
	default:
		r.peers[from] = time.Now()
	}
	closed := r.closed
	r.mu.Unlock()
	ev := m.Header.Get(HeaderEvent)
	if !closed && (ev == "hello" || !known && ev != "bye") {
		// A newcomer learns of this node at once.
		r.announce("beat")
	}
}

func (r *Relay) livePeers() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]bool, len(r.peers))
	for id, seen := range r.peers {
		if time.Since(seen) <= 3*r.opts.Heartbeat {
			out[id] = true
		}
	}
	return out
}

// Reconnected does what the relay does after a reconnect; call it when a
// connection made with nats.RetryOnFailedConnect comes up the first time
// (nats.ConnectHandler), since documents opened meanwhile missed the others.
func (r *Relay) Reconnected() { r.reconnected() }

func (r *Relay) reconnected() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	dirty := make([]string, 0, len(r.dirty))
	for doc := range r.dirty {
		dirty = append(dirty, doc)
	}
	clear(r.dirty)
	fs := append([]func(){}, r.onReconnect...)
	r.mu.Unlock()
	r.log.Info("nats reconnected", "url", r.nc.ConnectedUrlRedacted())
	r.announce("hello")
	for _, doc := range dirty {
		r.Poke(doc)
	}
	for _, f := range fs {
		f()
	}
}

func (r *Relay) asyncError(s *nats.Subscription, err error) {
	if s == nil || !errors.Is(err, nats.ErrSlowConsumer) {
		return
	}
	r.mu.Lock()
	h := r.subs[s]
	closed := r.closed
	if h != nil && !closed {
		r.wg.Add(1)
	}
	r.mu.Unlock()
	if h == nil || closed {
		return
	}
	r.log.Warn("slow relay subscription dropped messages; catching up", "subject", s.Subject)
	go func() {
		defer r.wg.Done()
		h.RelayCatchUp()
	}()
}

// Subscribe implements session.Relay.
func (r *Relay) Subscribe(doc string, h session.RelayHandler) (func(), error) {
	if err := checkDoc(doc); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, session.ErrRelayClosed
	}
	prefix := docPrefix + doc + "."
	sub, err := r.nc.Subscribe(prefix+"*", func(m *nats.Msg) {
		defer r.recoverPanic(m.Subject)
		if m.Header.Get(HeaderNode) == r.id {
			return
		}
		switch strings.TrimPrefix(m.Subject, prefix) {
		case "changes":
			h.RelayChanges(m.Data)
		case "ephemeral":
			h.RelayEphemeral(m.Data)
		case "poke":
			h.RelayCatchUp()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("natsrelay: subscribing to %s: %w", doc, err)
	}
	r.subs[sub] = h
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			delete(r.subs, sub)
			r.mu.Unlock()
			sub.Unsubscribe()
		})
	}, nil
}

// maxBody is the largest body that fits a message with our headers.
func (r *Relay) maxBody() int {
	mp := int(r.nc.MaxPayload())
	if mp <= 0 {
		mp = 1 << 20
	}
	return max(mp-4096, 1024)
}

func (r *Relay) publish(doc, subject string, data []byte) error {
	if err := r.nc.PublishMsg(r.msg(subject, data)); err != nil {
		r.mu.Lock()
		r.dirty[doc] = true
		r.mu.Unlock()
		return fmt.Errorf("natsrelay: publishing on %s: %w", subject, err)
	}
	return nil
}

// PublishChanges implements session.Relay. Changes too large for one
// message are announced with a poke instead: the others catch up.
func (r *Relay) PublishChanges(_ context.Context, doc string, changes []byte) error {
	if err := checkDoc(doc); err != nil {
		return err
	}
	if len(changes) > r.maxBody() {
		return r.Poke(doc)
	}
	return r.publish(doc, docPrefix+doc+".changes", changes)
}

// PublishEphemeral implements session.Relay; a frame too large for one
// message is dropped (ephemeral messages may be lost).
func (r *Relay) PublishEphemeral(doc string, frame []byte) error {
	if err := checkDoc(doc); err != nil {
		return err
	}
	if len(frame) > r.maxBody() {
		return fmt.Errorf("natsrelay: ephemeral frame of %d bytes is over the max payload", len(frame))
	}
	if err := r.nc.PublishMsg(r.msg(docPrefix+doc+".ephemeral", frame)); err != nil {
		return fmt.Errorf("natsrelay: publishing ephemeral: %w", err)
	}
	return nil
}

// Poke implements session.Relay.
func (r *Relay) Poke(doc string) error {
	if err := checkDoc(doc); err != nil {
		return err
	}
	return r.publish(doc, docPrefix+doc+".poke", nil)
}

// CatchUp implements session.Relay.
func (r *Relay) CatchUp(ctx context.Context, doc string) ([][]byte, error) {
	if err := checkDoc(doc); err != nil {
		return nil, err
	}
	if !r.nc.IsConnected() {
		return nil, fmt.Errorf("natsrelay: catch-up of %s: %w", doc, nats.ErrConnectionReconnecting)
	}
	inbox := r.nc.NewInbox()
	sub, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, fmt.Errorf("natsrelay: catch-up of %s: %w", doc, err)
	}
	defer sub.Unsubscribe()
	expect := r.livePeers()
	window := r.opts.Gather
	alone := len(expect) == 0
	if alone {
		// As far as we know; listen briefly for nodes we have not heard of.
		window = min(window, 50*time.Millisecond)
	}
	wctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	req := r.msg(catchUpPrefix+doc, nil)
	req.Reply = inbox
	if err := r.nc.PublishMsg(req); err != nil {
		return nil, fmt.Errorf("natsrelay: catch-up of %s: %w", doc, err)
	}
	type partial struct {
		parts [][]byte
		n     int
	}
	pending := map[string]*partial{}
	var out [][]byte
	for alone || len(expect) > 0 {
		m, err := sub.NextMsgWithContext(wctx)
		if err != nil {
			break // window over or ctx done: what we have
		}
		from := m.Header.Get(HeaderNode)
		i, n, ok := parsePart(m.Header.Get(HeaderPart))
		if from == "" || from == r.id || !ok {
			continue
		}
		p := pending[from]
		if p == nil {
			p = &partial{n: n}
			pending[from] = p
		}
		if p.n != n || i != len(p.parts) {
			// Parts lost or out of order: this answer is unusable.
			r.log.Warn("incomplete catch-up answer", "doc", doc, "from", from)
			delete(expect, from)
			p.n = -1
			continue
		}
		if n > 0 {
			p.parts = append(p.parts, m.Data)
		}
		if len(p.parts) == n {
			if n > 0 {
				var size int
				for _, b := range p.parts {
					size += len(b)
				}
				all := make([]byte, 0, size)
				for _, b := range p.parts {
					all = append(all, b...)
				}
				out = append(out, all)
			}
			p.n = -1
			delete(expect, from)
		}
	}
	return out, nil
}

func parsePart(h string) (i, n int, ok bool) {
	a, b, found := strings.Cut(h, "/")
	if !found {
		return 0, 0, false
	}
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || i < 0 || n < 0 || (n > 0 && i >= n) {
		return 0, 0, false
	}
	return i, n, true
}

// Serve implements session.Relay.
func (r *Relay) Serve(load func(doc string) ([]byte, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return session.ErrRelayClosed
	}
	if r.serveSub != nil {
		return errors.New("natsrelay: Serve called twice")
	}
	sub, err := r.nc.Subscribe(catchUpPrefix+"*", func(m *nats.Msg) {
		defer r.recoverPanic(m.Subject)
		if m.Header.Get(HeaderNode) == r.id || m.Reply == "" {
			return
		}
		doc := strings.TrimPrefix(m.Subject, catchUpPrefix)
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return
		}
		r.wg.Add(1)
		r.mu.Unlock()
		go func() {
			defer r.wg.Done()
			r.answer(doc, m.Reply, load)
		}()
	})
	if err != nil {
		return fmt.Errorf("natsrelay: subscribing to catch-up requests: %w", err)
	}
	r.serveSub = sub
	return nil
}

func (r *Relay) answer(doc, reply string, load func(string) ([]byte, error)) {
	data, err := load(doc)
	if err != nil {
		r.log.Warn("loading a document for another node failed", "doc", doc, "err", err)
		data = nil
	}
	size := r.maxBody()
	n := (len(data) + size - 1) / size
	if n == 0 {
		m := r.msg(reply, nil)
		m.Header.Set(HeaderPart, "0/0")
		r.nc.PublishMsg(m)
		return
	}
	for i := 0; i < n; i++ {
		m := r.msg(reply, data[i*size:min((i+1)*size, len(data))])
		m.Header.Set(HeaderPart, strconv.Itoa(i)+"/"+strconv.Itoa(n))
		if err := r.nc.PublishMsg(m); err != nil {
			r.log.Warn("answering a catch-up request failed", "doc", doc, "err", err)
			return
		}
	}
}

// OnReconnect implements session.Relay.
func (r *Relay) OnReconnect(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onReconnect = append(r.onReconnect, f)
}

// Close implements session.Relay: it says bye, unsubscribes and waits for
// the relay's goroutines. The connection stays open.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	subs := make([]*nats.Subscription, 0, len(r.subs)+2)
	for s := range r.subs {
		subs = append(subs, s)
	}
	clear(r.subs)
	if r.serveSub != nil {
		subs = append(subs, r.serveSub)
	}
	subs = append(subs, r.nodeSub)
	r.mu.Unlock()
	close(r.stop)
	for _, s := range subs {
		s.Unsubscribe()
	}
	r.announce("bye")
	r.wg.Wait()
	return nil
}

// checkDoc refuses ids that are not a single NATS subject token.
func checkDoc(doc string) error {
	if doc == "" || strings.ContainsAny(doc, ".*> \t\r\n") {
		return fmt.Errorf("natsrelay: invalid document id %q", doc)
	}
	return nil
}

// recoverPanic keeps a panic in handling another node's message (a bug of
// ours) from ending the process: the message is dropped, and the gap
// catch-up recovers what it carried.
func (r *Relay) recoverPanic(subject string) {
	if p := recover(); p != nil {
		r.log.Error("recovered from a panic handling a relay message", "subject", subject, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if r.opts.OnPanic != nil {
			r.opts.OnPanic()
		}
	}
}
