package peer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-dev/weft/session"
)

// Wire counts bytes on the TCP connections of one run, WebSocket framing
// and the HTTP upgrade included.
type Wire struct{ Sent, Recv atomic.Int64 }

type countingConn struct {
	net.Conn
	w *Wire
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.Recv.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.Sent.Add(int64(n))
	return n, err
}

// Peer is one WebSocket connection that has joined.
type Peer struct {
	ID     string
	conn   *websocket.Conn
	server string // the server's peer id
}

// Dial connects, sends join and waits for the server's peer message.
// buf sizes the connection's read and write buffers; w (if not nil)
// counts its bytes.
func Dial(ctx context.Context, url, id string, w *Wire, buf int) (*Peer, error) {
	nd := &net.Dialer{Timeout: 10 * time.Second}
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   buf,
		WriteBufferSize:  buf,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil || w == nil {
				return c, err
			}
			return countingConn{c, w}, nil
		},
	}
	conn, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(256 << 20)
	p := &Peer{ID: id, conn: conn}
	if err := p.join(); err != nil {
		conn.Close()
		return nil, err
	}
	return p, nil
}

// join sends join and waits (10 s at most) for the server's peer message.
func (p *Peer) join() error {
	if err := p.Send(session.Message{Type: session.TypeJoin, SenderID: p.ID,
		PeerMetadata: &session.PeerMetadata{IsEphemeral: true}, SupportedProtocolVersions: []string{session.ProtocolVersion}}); err != nil {
		return err
	}
	p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := p.Read()
	p.conn.SetReadDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("waiting for peer: %w", err)
	}
	if m.Type != session.TypePeer {
		return fmt.Errorf("expected a peer message after join, got %q %s", m.Type, m.Message)
	}
	p.server = m.SenderID
	return nil
}

// Send sends one protocol message.
func (p *Peer) Send(m session.Message) error {
	return p.conn.WriteMessage(websocket.BinaryMessage, session.Encode(m))
}

// SendSync sends a message of type typ (sync or request) for doc to the
// server.
func (p *Peer) SendSync(typ, doc string, data []byte) error {
	return p.Send(session.Message{Type: typ, SenderID: p.ID, TargetID: p.server, DocumentID: doc, Data: data})
}

// Read returns the next protocol message (text frames and undecodable
// frames are errors: a server must not send them).
func (p *Peer) Read() (session.Message, error) {
	typ, frame, err := p.conn.ReadMessage()
	if err != nil {
		return session.Message{}, err
	}
	if typ != websocket.BinaryMessage {
		return session.Message{}, errors.New("server sent a text frame")
	}
	return session.Decode(frame)
}

// Drain reads and drops frames until the connection fails or closes; while
// it reads, pings are answered.
func (p *Peer) Drain() {
	for {
		if _, _, err := p.conn.ReadMessage(); err != nil {
			return
		}
	}
}

// Close sends a normal close frame (1 s at most) and closes the
// connection.
func (p *Peer) Close() {
	p.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	p.conn.Close()
}

// Drop closes the connection without a close frame.
func (p *Peer) Drop() { p.conn.Close() }

// RandomTag is a short random suffix that keeps the peer ids of one run
// apart from another's.
func RandomTag() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
