package session

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-dev/weft/crdt"
)

// Client is one connection. Receive and Closed are called by the
// transport's read goroutine, one call at a time; that goroutine owns the
// fields marked "reader". Document goroutines only call send and close.
type Client struct {
	m      *Manager
	conn   Conn
	remote string
	id     uint64
	log    *slog.Logger

	joinTimer *time.Timer
	joined    atomic.Bool

	// reader-owned
	peerID    string
	key       string // per-connection key of this peer's sync states
	storageID string // "" for ephemeral peers: nothing is persisted for them
	docs      map[string]bool
	eph       map[string]uint64 // ephemeral dedupe: sessionId → last count

	closeOnce sync.Once
	closed    atomic.Bool
}

// Receive handles one binary frame from the peer.
func (cl *Client) Receive(frame []byte) {
	if cl.closed.Load() {
		return
	}
	msg, err := Decode(frame)
	if err != nil {
		cl.log.Info("closing connection: invalid frame", "err", err)
		cl.close(CloseProtocol, truncate(err.Error(), 120))
		return
	}
	cl.m.cfg.Metrics.MessageIn(msg.Type, len(frame))
	if msg.Type == TypeJoin {
		cl.join(msg)
		return
	}
	// Before join, or from a sender that is not this socket's peer (an
	// echoed ephemeral message, a confused client): drop, as the
	// reference server does.
	if !cl.joined.Load() || msg.SenderID != cl.peerID {
		return
	}
	switch msg.Type {
	case TypeSync, TypeRequest:
		cl.sync(msg)
	case TypeEphemeral:
		cl.ephemeral(msg)
	default:
		// leave, doc-unavailable, remote-*: nothing for a server to do.
	}
}

func (cl *Client) join(msg Message) {
	if cl.joined.Load() {
		return // one join per socket; ignore repeats
	}
	if msg.SenderID == "" {
		cl.close(CloseProtocol, "join without senderId")
		return
	}
	if len(msg.SupportedProtocolVersions) > 0 && !slices.Contains(msg.SupportedProtocolVersions, ProtocolVersion) {
		cl.send(Message{Type: TypeError, SenderID: cl.m.peerID, TargetID: msg.SenderID, Message: "unsupported protocol version"})
		cl.close(CloseVersion, "unsupported protocol version")
		return
	}
	if cl.m.isBanned(msg.SenderID, cl.remote) {
		cl.send(Message{Type: TypeError, SenderID: cl.m.peerID, TargetID: msg.SenderID, Message: "refused: this client repeatedly sent messages that crashed the server's document engine"})
		cl.close(CloseBanned, "refused for a while after crashing the engine")
		return
	}
	cl.peerID = msg.SenderID
	cl.key = msg.SenderID + "#" + strconv.FormatUint(cl.id, 10)
	if md := msg.PeerMetadata; md != nil && !md.IsEphemeral {
		cl.storageID = md.StorageID
	}
	cl.log = cl.log.With("peer", cl.peerID)
	cl.joinTimer.Stop()
	cl.joined.Store(true)
	// Reply before anything else: the client gives up on the network after
	// one second (PROTOCOL.md §3.7).
	cl.send(Message{
		Type:                    TypePeer,
		SenderID:                cl.m.peerID,
		TargetID:                cl.peerID,
		SelectedProtocolVersion: ProtocolVersion,
		PeerMetadata:            &PeerMetadata{StorageID: cl.m.cfg.Store.StorageID(), IsEphemeral: false},
	})
	if old := cl.m.register(cl); old != nil && old != cl {
		old.close(CloseReplaced, "a newer connection joined with this peer id")
	}
	cl.log.Debug("peer joined", "storageId", cl.storageID)
}

func (cl *Client) sync(msg Message) {
	if !crdt.ValidDocumentID(msg.DocumentID) {
		// The reference server logs and ignores invalid ids.
		cl.log.Info("ignoring sync for invalid document id", "doc", truncate(msg.DocumentID, 80))
		return
	}
	if len(msg.Data) == 0 {
		cl.close(CloseProtocol, "sync message without data")
		return
	}
	cl.docs[msg.DocumentID] = true
	cl.m.post(msg.DocumentID, event{kind: evSync, cl: cl, msg: msg}, true)
}

func (cl *Client) ephemeral(msg Message) {
	if !crdt.ValidDocumentID(msg.DocumentID) || len(msg.Data) == 0 {
		return
	}
	if last, ok := cl.eph[msg.SessionID]; ok && msg.Count <= last {
		return // duplicate or replay
	}
	cl.eph[msg.SessionID] = msg.Count
	cl.m.post(msg.DocumentID, event{kind: evEphemeral, cl: cl, msg: msg}, false)
}

// Closed tells the session that the transport is gone.
func (cl *Client) Closed() {
	cl.closed.Store(true)
	cl.joinTimer.Stop()
	cl.m.forget(cl)
	for id := range cl.docs {
		cl.m.post(id, event{kind: evLeave, cl: cl}, false)
	}
	clear(cl.docs)
}

// send encodes and queues a message; a full queue closes the connection.
func (cl *Client) send(msg Message) {
	cl.sendFrame(msg.Type, Encode(msg))
}

func (cl *Client) sendFrame(typ string, frame []byte) {
	if cl.closed.Load() {
		return
	}
	if err := cl.conn.Send(frame); err != nil {
		cl.log.Warn("closing slow or gone peer", "err", err)
		cl.close(CloseSlowConsumer, "send queue overflow: reconnect and resync")
		return
	}
	cl.m.cfg.Metrics.MessageOut(typ, len(frame))
}

// close ends the connection once, with a close code from the catalogue.
func (cl *Client) close(code int, reason string) {
	cl.closeOnce.Do(func() {
		cl.closed.Store(true)
		cl.m.cfg.Metrics.Disconnect(code)
		cl.conn.Close(code, reason)
	})
}

// fail sends a protocol error message, then closes.
func (cl *Client) fail(code int, reason string) {
	cl.send(Message{Type: TypeError, SenderID: cl.m.peerID, TargetID: cl.peerID, Message: reason})
	cl.close(code, reason)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

var errClosed = errors.New("session: connection closed")

func (cl *Client) String() string { return fmt.Sprintf("%s#%d", cl.peerID, cl.id) }
