package session

import (
	"context"
	"fmt"
	"sync"
)

// MemRelayNetwork joins Managers in one process, for tests: each Node is
// the Relay of one Manager. Delivery is asynchronous (a goroutine per
// subscription with an unbounded queue), in order per publisher.
type MemRelayNetwork struct {
	mu    sync.Mutex
	nodes map[string]*MemRelay
}

// NewMemRelayNetwork returns an empty network.
func NewMemRelayNetwork() *MemRelayNetwork {
	return &MemRelayNetwork{nodes: map[string]*MemRelay{}}
}

// Node returns a new relay on the network with the given node id.
func (n *MemRelayNetwork) Node(id string) *MemRelay {
	r := &MemRelay{net: n, id: id, subs: map[string]map[*memSub]struct{}{}, connected: true}
	n.mu.Lock()
	n.nodes[id] = r
	n.mu.Unlock()
	return r
}

func (n *MemRelayNetwork) others(self *MemRelay) []*MemRelay {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*MemRelay
	for _, r := range n.nodes {
		if r != self {
			out = append(out, r)
		}
	}
	return out
}

// MemRelay is one node of a MemRelayNetwork. Disconnect and Reconnect
// simulate a node cut off from the others.
type MemRelay struct {
	net *MemRelayNetwork
	id  string

	mu          sync.Mutex
	subs        map[string]map[*memSub]struct{}
	serve       func(doc string) ([]byte, error)
	onReconnect []func()
	connected   bool
	closed      bool
}

type memSub struct {
	h    RelayHandler
	mu   sync.Mutex
	q    []func(RelayHandler)
	wake chan struct{}
	stop chan struct{}
	once sync.Once
}

func (s *memSub) push(f func(RelayHandler)) {
	s.mu.Lock()
	s.q = append(s.q, f)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *memSub) run() {
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			q := s.q
			s.q = nil
			s.mu.Unlock()
			if len(q) == 0 {
				break
			}
			for _, f := range q {
				select {
				case <-s.stop:
					return
				default:
				}
				f(s.h)
			}
		}
	}
}

func (s *memSub) cancel() { s.once.Do(func() { close(s.stop) }) }

// ID returns the node id.
func (r *MemRelay) ID() string { return r.id }

// Subscribe implements Relay.
func (r *MemRelay) Subscribe(doc string, h RelayHandler) (func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrRelayClosed
	}
	s := &memSub{h: h, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if r.subs[doc] == nil {
		r.subs[doc] = map[*memSub]struct{}{}
	}
	r.subs[doc][s] = struct{}{}
	go s.run()
	return func() {
		r.mu.Lock()
		delete(r.subs[doc], s)
		if len(r.subs[doc]) == 0 {
			delete(r.subs, doc)
		}
		r.mu.Unlock()
		s.cancel()
	}, nil
}

func (r *MemRelay) up() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrRelayClosed
	}
	if !r.connected {
		return fmt.Errorf("session: relay node %s disconnected", r.id)
	}
	return nil
}

// deliver queues f for every subscription to doc on the other connected
// nodes.
func (r *MemRelay) deliver(doc string, f func(RelayHandler)) error {
	if err := r.up(); err != nil {
		return err
	}
	for _, o := range r.net.others(r) {
		o.mu.Lock()
		if o.connected && !o.closed {
			for s := range o.subs[doc] {
				s.push(f)
			}
		}
		o.mu.Unlock()
	}
	return nil
}

// PublishChanges implements Relay.
func (r *MemRelay) PublishChanges(_ context.Context, doc string, changes []byte) error {
	b := append([]byte(nil), changes...)
	return r.deliver(doc, func(h RelayHandler) { h.RelayChanges(b) })
}

// PublishEphemeral implements Relay.
func (r *MemRelay) PublishEphemeral(doc string, frame []byte) error {
	b := append([]byte(nil), frame...)
	return r.deliver(doc, func(h RelayHandler) { h.RelayEphemeral(b) })
}

// Poke implements Relay.
func (r *MemRelay) Poke(doc string) error {
	return r.deliver(doc, func(h RelayHandler) { h.RelayCatchUp() })
}

// CatchUp implements Relay: it asks every other connected node's Serve.
func (r *MemRelay) CatchUp(ctx context.Context, doc string) ([][]byte, error) {
	if err := r.up(); err != nil {
		return nil, err
	}
	type answer struct {
		b   []byte
		err error
	}
	var loads []func(string) ([]byte, error)
	for _, o := range r.net.others(r) {
		o.mu.Lock()
		if o.connected && !o.closed && o.serve != nil {
			loads = append(loads, o.serve)
		}
		o.mu.Unlock()
	}
	ch := make(chan answer, len(loads))
	for _, load := range loads {
		go func() {
			b, err := load(doc)
			ch <- answer{b, err}
		}()
	}
	var out [][]byte
	for range loads {
		select {
		case a := <-ch:
			if a.err == nil && len(a.b) > 0 {
				out = append(out, a.b)
			}
		case <-ctx.Done():
			return out, nil
		}
	}
	return out, nil
}

// Serve implements Relay.
func (r *MemRelay) Serve(load func(doc string) ([]byte, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serve = load
	return nil
}

// OnReconnect implements Relay.
func (r *MemRelay) OnReconnect(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onReconnect = append(r.onReconnect, f)
}

// Disconnect cuts the node off: its publications fail and it receives
// nothing until Reconnect.
func (r *MemRelay) Disconnect() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connected = false
}

// SetConnected connects or disconnects the node without calling the
// OnReconnect functions (a reconnect nobody noticed).
func (r *MemRelay) SetConnected(v bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.connected = v
}

// Reconnect joins the node again and calls the OnReconnect functions.
func (r *MemRelay) Reconnect() {
	r.mu.Lock()
	r.connected = true
	fs := append([]func(){}, r.onReconnect...)
	r.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// Close implements Relay.
func (r *MemRelay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	var subs []*memSub
	for _, m := range r.subs {
		for s := range m {
			subs = append(subs, s)
		}
	}
	clear(r.subs)
	r.mu.Unlock()
	r.net.mu.Lock()
	if r.net.nodes[r.id] == r {
		delete(r.net.nodes, r.id)
	}
	r.net.mu.Unlock()
	for _, s := range subs {
		s.cancel()
	}
	return nil
}
