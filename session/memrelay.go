package session

import (
	"fmt"
	"sync"
)

// MemRelayNetwork joins Managers in one process, for tests: each Node is
// the (ephemeral) Relay of one Manager. Delivery is asynchronous (a goroutine per
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
	onReconnect []func()
	connected   bool
	closed      bool
}

type memSub struct {
	h    func(frame []byte)
	mu   sync.Mutex
	q    [][]byte
	wake chan struct{}
	stop chan struct{}
	once sync.Once
}

func (s *memSub) push(f []byte) {
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
				s.h(f)
			}
		}
	}
}

func (s *memSub) cancel() { s.once.Do(func() { close(s.stop) }) }

// ID returns the node id.
func (r *MemRelay) ID() string { return r.id }

// Subscribe implements Relay.
func (r *MemRelay) Subscribe(doc string, h func(frame []byte)) (func(), error) {
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

// PublishEphemeral implements Relay: it queues frame for every
// subscription to doc on the other connected nodes.
func (r *MemRelay) PublishEphemeral(doc string, frame []byte) error {
	if err := r.up(); err != nil {
		return err
	}
	b := append([]byte(nil), frame...)
	for _, o := range r.net.others(r) {
		o.mu.Lock()
		if o.connected && !o.closed {
			for s := range o.subs[doc] {
				s.push(b)
			}
		}
		o.mu.Unlock()
	}
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
