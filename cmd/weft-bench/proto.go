package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
)

// syncMsg is the part of an Automerge V1 sync message (PROTOCOL.md §4.8)
// the light peers need: heads, need, and the change chunks with their
// hashes and dependencies.
type syncMsg struct {
	heads, need []crdt.Hash
	changes     []change
}

type change struct {
	hash crdt.Hash
	deps []crdt.Hash
	raw  []byte
}

var errSyncFormat = errors.New("malformed sync message")

type rd struct {
	b   []byte
	off int
	err error
}

func (r *rd) uleb() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.b) {
			r.err = errSyncFormat
			return 0
		}
		c := r.b[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.err = errSyncFormat
	return 0
}

func (r *rd) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)-r.off) {
		r.err = errSyncFormat
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *rd) hashes() []crdt.Hash {
	n := r.uleb()
	if r.err != nil || n > uint64(len(r.b)-r.off)/32 {
		r.err = errSyncFormat
		return nil
	}
	hs := make([]crdt.Hash, n)
	for i := range hs {
		hs[i] = crdt.Hash(r.take(32))
	}
	return hs
}

var chunkMagic = []byte{0x85, 0x6f, 0x4a, 0x83}

// parseSync reads a V1 sync message. A V2 message (0x43, which automerge
// 0.5.0 cannot read either) is an error. Trailing capability bytes from
// newer cores are ignored.
func parseSync(b []byte) (syncMsg, error) {
	var m syncMsg
	if len(b) == 0 || b[0] != 0x42 {
		if len(b) > 0 && b[0] == 0x43 {
			return m, fmt.Errorf("%w: a V2 (0x43) message, which automerge 0.5.0 cannot read", errSyncFormat)
		}
		return m, fmt.Errorf("%w: not a V1 message", errSyncFormat)
	}
	r := &rd{b: b, off: 1}
	m.heads = r.hashes()
	m.need = r.hashes()
	haves := r.uleb()
	for i := uint64(0); i < haves && r.err == nil; i++ {
		r.hashes()
		r.take(r.uleb())
	}
	n := r.uleb()
	for i := uint64(0); i < n && r.err == nil; i++ {
		raw := r.take(r.uleb())
		if r.err != nil {
			break
		}
		c, err := parseChange(raw)
		if err != nil {
			return m, err
		}
		m.changes = append(m.changes, c)
	}
	if r.err != nil {
		return m, r.err
	}
	return m, nil
}

// parseChange reads the hash and dependencies of an uncompressed change
// chunk: magic, checksum, type 1, LEB length, body starting with the deps.
func parseChange(raw []byte) (change, error) {
	c := change{raw: raw}
	if len(raw) < 9 || !bytes.Equal(raw[:4], chunkMagic) || raw[8] != 1 {
		return c, fmt.Errorf("%w: not an uncompressed change chunk", errSyncFormat)
	}
	c.hash = sha256.Sum256(raw[8:])
	if !bytes.Equal(c.hash[:4], raw[4:8]) {
		return c, fmt.Errorf("%w: change checksum mismatch", errSyncFormat)
	}
	r := &rd{b: raw, off: 9}
	body := r.take(r.uleb())
	br := &rd{b: body}
	c.deps = br.hashes()
	if r.err != nil || br.err != nil {
		return c, fmt.Errorf("%w: truncated change chunk", errSyncFormat)
	}
	return c, nil
}

func putUleb(buf *bytes.Buffer, v uint64) {
	for v >= 0x80 {
		buf.WriteByte(byte(v) | 0x80)
		v >>= 7
	}
	buf.WriteByte(byte(v))
}

// buildSync builds a V1 sync message with the given heads, no need, no
// have and the given change chunks: enough for a Replica to apply them.
func buildSync(heads []crdt.Hash, chunks [][]byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(0x42)
	putUleb(&buf, uint64(len(heads)))
	for _, h := range heads {
		buf.Write(h[:])
	}
	putUleb(&buf, 0) // need
	putUleb(&buf, 0) // have
	putUleb(&buf, uint64(len(chunks)))
	for _, c := range chunks {
		putUleb(&buf, uint64(len(c)))
		buf.Write(c)
	}
	return buf.Bytes()
}

// headSet tracks the heads of a set of changes received in any order: the
// changes no other known change depends on.
type headSet struct {
	known    map[crdt.Hash]bool
	depended map[crdt.Hash]bool
	heads    map[crdt.Hash]bool
}

func newHeadSet(initial []crdt.Hash) *headSet {
	s := &headSet{known: map[crdt.Hash]bool{}, depended: map[crdt.Hash]bool{}, heads: map[crdt.Hash]bool{}}
	for _, h := range initial {
		s.known[h], s.heads[h] = true, true
	}
	return s
}

// add records a change; it reports false if it was already known.
func (s *headSet) add(c change) bool {
	if s.known[c.hash] {
		return false
	}
	s.known[c.hash] = true
	for _, d := range c.deps {
		s.depended[d] = true
		delete(s.heads, d)
	}
	if !s.depended[c.hash] {
		s.heads[c.hash] = true
	}
	return true
}

// list returns the heads sorted, as Automerge reports them.
func (s *headSet) list() []crdt.Hash {
	hs := make([]crdt.Hash, 0, len(s.heads))
	for h := range s.heads {
		hs = append(hs, h)
	}
	slices.SortFunc(hs, func(a, b crdt.Hash) int { return bytes.Compare(a[:], b[:]) })
	return hs
}

// wire counts bytes on the TCP connections of one run, WebSocket framing
// and the HTTP upgrade included.
type wire struct{ sent, recv atomic.Int64 }

type countingConn struct {
	net.Conn
	w *wire
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.recv.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.w.sent.Add(int64(n))
	return n, err
}

// peer is one WebSocket connection that has joined.
type peer struct {
	id     string
	conn   *websocket.Conn
	server string // the server's peer id
}

// dialPeer connects, sends join and waits for the server's peer message.
// buf sizes the connection's read and write buffers.
func dialPeer(ctx context.Context, url, id string, w *wire, buf int) (*peer, error) {
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
	p := &peer{id: id, conn: conn}
	if err := p.send(session.Message{Type: session.TypeJoin, SenderID: id,
		PeerMetadata: &session.PeerMetadata{IsEphemeral: true}, SupportedProtocolVersions: []string{session.ProtocolVersion}}); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	m, err := p.read()
	conn.SetReadDeadline(time.Time{})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("waiting for peer: %w", err)
	}
	if m.Type != session.TypePeer {
		conn.Close()
		return nil, fmt.Errorf("expected a peer message after join, got %q %s", m.Type, m.Message)
	}
	p.server = m.SenderID
	return p, nil
}

func (p *peer) send(m session.Message) error {
	return p.conn.WriteMessage(websocket.BinaryMessage, session.Encode(m))
}

func (p *peer) sendSync(typ, doc string, data []byte) error {
	return p.send(session.Message{Type: typ, SenderID: p.id, TargetID: p.server, DocumentID: doc, Data: data})
}

// read returns the next protocol message (text frames and undecodable
// frames are errors: a server must not send them).
func (p *peer) read() (session.Message, error) {
	typ, frame, err := p.conn.ReadMessage()
	if err != nil {
		return session.Message{}, err
	}
	if typ != websocket.BinaryMessage {
		return session.Message{}, errors.New("server sent a text frame")
	}
	return session.Decode(frame)
}

func (p *peer) close() {
	p.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	p.conn.Close()
}
