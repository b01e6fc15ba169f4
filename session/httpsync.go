package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/weft-dev/weft/crdt"
)

// Sync over plain HTTP: a caller that cannot hold a WebSocket exchanges
// Automerge sync messages in requests. Each peer id gets a Client whose
// Conn is an in-memory mailbox (httpConn), so that it syncs, is
// authorized, persisted and fanned out to exactly as a WebSocket peer.
// It lives across requests and expires after httpPeerIdle without one.

// httpPeerIdle is how long an HTTP sync peer (and its sync state) outlives
// its last request.
const httpPeerIdle = 2 * time.Minute

// httpQueueLimit bounds the messages an HTTP peer may leave uncollected.
const httpQueueLimit = 4096

// SyncRequest is one HTTP sync exchange.
type SyncRequest struct {
	Doc  string
	Peer string
	// Messages are Automerge sync messages from the peer, in order.
	Messages [][]byte
	// Wait is how long to wait for a message when there is none to return
	// at once (long polling); zero returns at once.
	Wait time.Duration
	// Reset drops the server's sync state for this peer first (use it
	// after a failed request: a lost message would otherwise stall sync).
	Reset  bool
	Auth   *Auth
	Remote string
}

// SyncResponse is the server's side of an exchange.
type SyncResponse struct {
	// Messages are the server's sync messages for the peer, in order.
	Messages [][]byte
	// Heads are the document's heads after the request's messages.
	Heads crdt.Heads
	// New reports that the server started a fresh sync state for this
	// peer (first request, after expiry, or Reset): the peer should start
	// from a fresh sync state too.
	New bool
	// Errors are protocol errors the server reported (refused changes).
	Errors []string
}

type httpPeer struct {
	mu      sync.Mutex // serializes requests of one peer id
	cl      *Client
	conn    *httpConn
	user    string
	timer   *time.Timer
	preempt chan struct{} // a newer request ends a waiting one
}

// httpConn is the Conn of an HTTP peer: it keeps the sync messages the
// server sends until a request collects them.
type httpConn struct {
	mu     sync.Mutex // guards the fields below
	msgs   map[string][][]byte
	errs   []string
	n      int
	closed *CloseError
	notify chan struct{} // capacity 1: "something arrived"
	onEnd  func()
}

func (c *httpConn) Send(frame []byte) error {
	msg, err := Decode(frame)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed != nil {
		return ErrPeerClosed
	}
	switch msg.Type {
	case TypeSync:
		if c.n >= httpQueueLimit {
			return fmt.Errorf("%w: %d messages not collected", ErrPeerClosed, c.n)
		}
		c.msgs[msg.DocumentID] = append(c.msgs[msg.DocumentID], msg.Data)
		c.n++
	case TypeError:
		c.errs = append(c.errs, msg.Message)
	default:
		return nil // peer, ephemeral, doc-unavailable: nothing to collect
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return nil
}

func (c *httpConn) Close(code int, reason string) {
	c.mu.Lock()
	first := c.closed == nil
	if first {
		c.closed = &CloseError{Code: code, Reason: reason}
	}
	c.mu.Unlock()
	if first {
		select {
		case c.notify <- struct{}{}:
		default:
		}
		// Like a socket's read loop ending after its close frame.
		go c.onEnd()
	}
}

// take removes and returns what has arrived for doc.
func (c *httpConn) take(doc string) (msgs [][]byte, errs []string, closed *CloseError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	msgs, errs = c.msgs[doc], c.errs
	delete(c.msgs, doc)
	c.n -= len(msgs)
	c.errs = nil
	return msgs, errs, c.closed
}

// SyncHTTP runs one HTTP sync exchange: it applies req.Messages as the
// peer's sync messages, waits until they are processed (and durable), and
// returns the server's messages for the peer, long-polling up to req.Wait
// when there are none.
func (m *Manager) SyncHTTP(ctx context.Context, req SyncRequest) (SyncResponse, error) {
	var resp SyncResponse
	if !crdt.ValidDocumentID(req.Doc) {
		return resp, fmt.Errorf("%w: %q is not a document id", ErrNotFound, req.Doc)
	}
	if req.Peer == "" || len(req.Peer) > 256 {
		return resp, fmt.Errorf("session: a peer id of 1 to 256 bytes is required")
	}
	p, fresh, err := m.httpPeer(req)
	if err != nil {
		return resp, err
	}
	select {
	case p.preempt <- struct{}{}:
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Drain a preemption meant for an earlier request.
	select {
	case <-p.preempt:
	default:
	}
	p.timer.Reset(httpPeerIdle)
	resp.New = fresh
	for _, data := range req.Messages {
		p.cl.Receive(Encode(Message{Type: TypeSync, SenderID: req.Peer, TargetID: m.peerID, DocumentID: req.Doc, Data: data}))
	}
	// A barrier behind the messages: it answers once they are applied, the
	// batch is durable and the replies are queued.
	err = m.run(ctx, req.Doc, false, func(d *document, _ *round) error {
		resp.Heads = d.heads
		return nil
	})
	if err != nil {
		return resp, err
	}
	wait := time.NewTimer(req.Wait)
	defer wait.Stop()
	for {
		msgs, errs, closed := p.conn.take(req.Doc)
		resp.Messages = append(resp.Messages, msgs...)
		resp.Errors = append(resp.Errors, errs...)
		if closed != nil {
			m.dropHTTPPeer(req.Peer, p)
			return resp, fmt.Errorf("%w: %s (%d)", ErrPeerClosed, closed.Reason, closed.Code)
		}
		if len(resp.Messages) > 0 || len(resp.Errors) > 0 || req.Wait <= 0 {
			return resp, nil
		}
		select {
		case <-p.conn.notify:
		case <-wait.C:
			return resp, nil
		case <-p.preempt:
			return resp, nil
		case <-ctx.Done():
			return resp, nil
		}
	}
}

// httpPeer returns the peer's session, starting one when there is none
// (or req.Reset); fresh reports a new one.
func (m *Manager) httpPeer(req SyncRequest) (*httpPeer, bool, error) {
	user := ""
	if req.Auth != nil {
		user = req.Auth.User
	}
	m.hmu.Lock()
	defer m.hmu.Unlock()
	if m.httpPeers == nil {
		m.httpPeers = map[string]*httpPeer{}
	}
	if p := m.httpPeers[req.Peer]; p != nil {
		if p.user != user {
			return nil, false, fmt.Errorf("%w: peer id %q belongs to another user", ErrForbidden, req.Peer)
		}
		if !req.Reset && !p.cl.closed.Load() {
			return p, false, nil
		}
		delete(m.httpPeers, req.Peer)
		p.cl.close(ErrCloseSessionReset)
	}
	conn := &httpConn{msgs: map[string][][]byte{}, notify: make(chan struct{}, 1)}
	cl, err := m.Connect(conn, req.Remote, req.Auth)
	if err != nil {
		return nil, false, err
	}
	conn.onEnd = cl.Closed
	p := &httpPeer{cl: cl, conn: conn, user: user, preempt: make(chan struct{}, 1)}
	p.timer = time.AfterFunc(httpPeerIdle, func() {
		m.dropHTTPPeer(req.Peer, p)
		cl.close(ErrCloseSessionExpired)
	})
	// Ephemeral: an HTTP peer's sync state is not kept past its session.
	cl.Receive(Encode(Message{Type: TypeJoin, SenderID: req.Peer, SupportedProtocolVersions: []string{ProtocolVersion},
		PeerMetadata: &PeerMetadata{IsEphemeral: true}}))
	if _, _, closed := conn.take(""); closed != nil {
		return nil, false, fmt.Errorf("%w: %s (%d)", ErrPeerClosed, closed.Reason, closed.Code)
	}
	m.httpPeers[req.Peer] = p
	return p, true, nil
}

func (m *Manager) dropHTTPPeer(peer string, p *httpPeer) {
	m.hmu.Lock()
	if m.httpPeers[peer] == p {
		delete(m.httpPeers, peer)
	}
	m.hmu.Unlock()
	p.timer.Stop()
}
