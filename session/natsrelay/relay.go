package natsrelay

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weft-dev/weft/session"
)

// HeaderNode names the sending node; see the package documentation.
const HeaderNode = "Weft-Node"

const (
	docPrefix       = "weft.doc."
	ephemeralSuffix = ".ephemeral"
)

// Options configures a Relay; the zero value is usable.
type Options struct {
	// Logger receives relay events; nil discards them.
	Logger *slog.Logger
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
	subs        map[*nats.Subscription]struct{}
	onReconnect []func()
	closed      bool
}

var _ session.Relay = (*Relay)(nil)

// New returns a relay for the node nodeID over nc.
func New(nc *nats.Conn, nodeID string, opts *Options) (*Relay, error) {
	if nodeID == "" || strings.ContainsAny(nodeID, " \t\r\n") {
		return nil, fmt.Errorf("natsrelay: invalid node id %q", nodeID)
	}
	r := &Relay{nc: nc, id: nodeID, subs: map[*nats.Subscription]struct{}{}}
	if opts != nil {
		r.opts = *opts
	}
	r.log = r.opts.Logger
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("node", nodeID)
	prev := nc.ReconnectHandler()
	nc.SetReconnectHandler(func(c *nats.Conn) {
		if prev != nil {
			prev(c)
		}
		r.reconnected()
	})
	return r, nil
}

// ID returns the node id.
func (r *Relay) ID() string { return r.id }

// Flush waits until the server has processed everything sent so far
// (subscriptions included).
func (r *Relay) Flush() error { return r.nc.FlushTimeout(5 * time.Second) }

// Reconnected does what the relay does after a reconnect; call it when a
// connection made with nats.RetryOnFailedConnect comes up the first time
// (nats.ConnectHandler), since documents opened meanwhile may have missed
// their store.
func (r *Relay) Reconnected() { r.reconnected() }

func (r *Relay) reconnected() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	fs := append([]func(){}, r.onReconnect...)
	r.mu.Unlock()
	r.log.Info("nats reconnected", "url", r.nc.ConnectedUrlRedacted())
	for _, f := range fs {
		f()
	}
}

// Subscribe implements session.Relay.
func (r *Relay) Subscribe(doc string, h func(frame []byte)) (func(), error) {
	if err := checkDoc(doc); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, session.ErrRelayClosed
	}
	sub, err := r.nc.Subscribe(docPrefix+doc+ephemeralSuffix, func(m *nats.Msg) {
		defer r.recoverPanic(m.Subject)
		if m.Header.Get(HeaderNode) == r.id {
			return
		}
		h(m.Data)
	})
	if err != nil {
		return nil, fmt.Errorf("natsrelay: subscribing to %s: %w", doc, err)
	}
	r.subs[sub] = struct{}{}
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

// maxBody is the largest body that fits a message with our header.
func (r *Relay) maxBody() int {
	mp := int(r.nc.MaxPayload())
	if mp <= 0 {
		mp = 1 << 20
	}
	return max(mp-4096, 1024)
}

// PublishEphemeral implements session.Relay; a frame too large for one
// message is refused (ephemeral messages may be lost).
func (r *Relay) PublishEphemeral(doc string, frame []byte) error {
	if err := checkDoc(doc); err != nil {
		return err
	}
	if len(frame) > r.maxBody() {
		return fmt.Errorf("natsrelay: ephemeral frame of %d bytes is over the max payload", len(frame))
	}
	m := nats.NewMsg(docPrefix + doc + ephemeralSuffix)
	m.Header.Set(HeaderNode, r.id)
	m.Data = frame
	if err := r.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("natsrelay: publishing ephemeral: %w", err)
	}
	return nil
}

// OnReconnect implements session.Relay.
func (r *Relay) OnReconnect(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onReconnect = append(r.onReconnect, f)
}

// Close implements session.Relay: it unsubscribes. The connection stays
// open.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	subs := make([]*nats.Subscription, 0, len(r.subs))
	for s := range r.subs {
		subs = append(subs, s)
	}
	clear(r.subs)
	r.mu.Unlock()
	for _, s := range subs {
		s.Unsubscribe()
	}
	return nil
}

// checkDoc refuses ids that are not a single NATS subject token.
func checkDoc(doc string) error {
	if doc == "" || strings.ContainsAny(doc, ".*> \t\r\n") {
		return fmt.Errorf("natsrelay: invalid document id %q", doc)
	}
	return nil
}

// recoverPanic keeps a panic in handling another node's frame (a bug of
// ours) from ending the process: the frame is dropped, as ephemeral
// frames may be.
func (r *Relay) recoverPanic(subject string) {
	if p := recover(); p != nil {
		r.log.Error("recovered from a panic handling a relay message", "subject", subject, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if r.opts.OnPanic != nil {
			r.opts.OnPanic()
		}
	}
}
