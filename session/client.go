package session

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/weft-dev/weft/crdt"
)

// Client is one connection. Receive and Closed are called by the
// transport's read goroutine, one call at a time; that goroutine owns the
// fields marked "reader". Document goroutines only call send and close.
type Client struct {
	m      *Manager
	conn   Conn
	remote string
	auth   *Auth // nil: open (write everywhere)
	id     uint64
	log    *slog.Logger

	joinTimer *time.Timer
	joined    atomic.Bool

	// reader-owned
	peerID    string
	key       string // per-connection key of this peer's sync states
	storageID string // "" for ephemeral peers: nothing is persisted for them
	docs      map[string]bool
	eph       map[string]uint64    // ephemeral dedupe: sessionId → last count
	resyncAt  map[string]time.Time // read-only refusals: last resync per document
	ephLimit  *rate.Limiter        // nil: no limit
	ephDrops  int                  // ephemeral messages dropped by ephLimit

	closeOnce sync.Once
	closed    atomic.Bool
}

// Receive handles one binary frame from the peer.
func (cl *Client) Receive(frame []byte) {
	if cl.closed.Load() {
		return
	}
	if !cl.joined.Load() {
		// Until join, on a goroutine of its own. Decoding a join (nested
		// peer metadata, a list of versions) and answering it take a
		// deeper stack than any later message; on the transport's
		// goroutine that would double its stack for the connection's
		// life (Go shrinks a stack only when under a quarter of it is in
		// use, and a WebSocket reader at rest already sits about 4 KiB
		// deep in net/http, melody and gorilla). Here the deep stack is
		// freed when the join is done: 8 KiB less per idle connection.
		done := make(chan struct{})
		go func() {
			defer close(done)
			cl.receive(frame)
		}()
		<-done
		return
	}
	cl.receive(frame)
}

func (cl *Client) receive(frame []byte) {
	defer cl.recoverPanic()
	msg, err := Decode(frame)
	if err != nil {
		cl.log.Info("closing connection: invalid frame", "err", err)
		cl.close(ErrCloseInvalidFrame.With(err.Error()))
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
		cl.close(ErrCloseNoSender)
		return
	}
	if len(msg.SupportedProtocolVersions) > 0 && !slices.Contains(msg.SupportedProtocolVersions, ProtocolVersion) {
		cl.send(Message{Type: TypeError, SenderID: cl.m.peerID, TargetID: msg.SenderID, Message: "unsupported protocol version"})
		cl.close(ErrCloseVersion)
		return
	}
	if cl.m.isBanned(msg.SenderID, cl.remote) {
		cl.send(Message{Type: TypeError, SenderID: cl.m.peerID, TargetID: msg.SenderID, Message: "refused: this client repeatedly sent messages that crashed the server's document engine"})
		cl.close(ErrCloseBanned)
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
		old.close(ErrCloseReplaced)
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
		cl.close(ErrCloseNoData)
		return
	}
	role := cl.auth.role(msg.DocumentID)
	if role == RoleNone {
		// Exactly what a missing document looks like: no hint it exists,
		// nothing applied, nothing opened.
		cl.log.Info("document access denied", "audit", "access_denied", "doc", msg.DocumentID, "user", cl.user())
		cl.m.cfg.Metrics.Limited("access")
		cl.send(Message{Type: TypeDocUnavailable, SenderID: cl.m.peerID, TargetID: cl.peerID, DocumentID: msg.DocumentID})
		return
	}
	if role == RoleRead {
		if n, err := crdt.MessageChanges(msg.Data); err != nil || n > 0 {
			// Refused before the engine sees it; the document restarts
			// this peer's sync state so that it resyncs from the server.
			cl.log.Info("refusing changes from a read-only peer", "audit", "read_only_write", "doc", msg.DocumentID, "user", cl.user(), "changes", n)
			cl.m.cfg.Metrics.Limited("read_only")
			cl.send(Message{Type: TypeError, SenderID: cl.m.peerID, TargetID: cl.peerID, DocumentID: msg.DocumentID,
				Message: "read-only access: changes to document " + msg.DocumentID + " refused"})
			// One resync per document every few seconds: a client that
			// keeps resending its changes cannot make the server loop.
			if time.Since(cl.resyncAt[msg.DocumentID]) > resyncEvery {
				if cl.resyncAt == nil {
					cl.resyncAt = map[string]time.Time{}
				}
				cl.resyncAt[msg.DocumentID] = time.Now()
				cl.subscribed(msg.DocumentID)
				cl.m.post(msg.DocumentID, event{kind: evResync, cl: cl}, true)
			}
			return
		}
	}
	if !cl.docs[msg.DocumentID] && len(cl.docs) >= cl.m.cfg.MaxDocsPerConn {
		cl.log.Warn("closing connection: too many documents open", "audit", "limit_docs_per_conn", "limit", cl.m.cfg.MaxDocsPerConn)
		cl.m.cfg.Metrics.Limited("docs_per_conn")
		cl.fail(ErrCloseTooManyDocs)
		return
	}
	cl.subscribed(msg.DocumentID)
	cl.m.post(msg.DocumentID, event{kind: evSync, cl: cl, msg: msg}, true)
}

// resyncEvery bounds how often a read-only peer's refused changes restart
// its sync state for one document.
const resyncEvery = 5 * time.Second

func (cl *Client) user() string {
	if cl.auth == nil {
		return ""
	}
	return cl.auth.User
}

// subscribed records that this connection has the document open (the map
// is made on first use: an idle connection has none).
func (cl *Client) subscribed(doc string) {
	if cl.docs == nil {
		cl.docs = map[string]bool{}
	}
	cl.docs[doc] = true
}

func (cl *Client) ephemeral(msg Message) {
	if !crdt.ValidDocumentID(msg.DocumentID) || len(msg.Data) == 0 {
		return
	}
	if cl.auth.role(msg.DocumentID) == RoleNone {
		return
	}
	if cl.ephLimit == nil && cl.m.cfg.EphemeralRate > 0 {
		cl.ephLimit = rate.NewLimiter(rate.Limit(cl.m.cfg.EphemeralRate), cl.m.cfg.EphemeralBurst)
	}
	if cl.ephLimit != nil && !cl.ephLimit.Allow() {
		// Lossy by nature: drop, count, and log once per hundred.
		cl.m.cfg.Metrics.Limited("ephemeral_rate")
		if cl.ephDrops%100 == 0 {
			cl.log.Warn("dropping ephemeral messages over the rate limit", "audit", "limit_ephemeral_rate", "dropped", cl.ephDrops+1)
		}
		cl.ephDrops++
		return
	}
	if last, ok := cl.eph[msg.SessionID]; ok && msg.Count <= last {
		return // duplicate or replay
	}
	if cl.eph == nil {
		cl.eph = map[string]uint64{}
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
		cl.close(ErrCloseSlowConsumer)
		return
	}
	cl.m.cfg.Metrics.MessageOut(typ, len(frame))
}

// Close ends the connection with a close code from the catalogue, for
// limits the transport enforces (message rate).
func (cl *Client) Close(code int, reason string) { cl.close(&CloseError{Code: code, Reason: reason}) }

// CloseWith ends the connection with one of the close values (closecode.go).
func (cl *Client) CloseWith(e *CloseError) { cl.close(e) }

// close ends the connection once, with a close error from the catalogue
// (closecode.go); the reason is cut to fit a close frame.
func (cl *Client) close(e *CloseError) {
	cl.closeOnce.Do(func() {
		cl.closed.Store(true)
		cl.m.cfg.Metrics.Disconnect(e.Code)
		cl.conn.Close(e.Code, truncate(e.Reason, maxCloseReason))
	})
}

// recoverPanic ends the connection whose frame panicked (a bug of ours):
// the peer reconnects and resyncs; nobody else notices.
func (cl *Client) recoverPanic() {
	if r := recover(); r != nil {
		cl.m.recovered(cl.log, "client", r)
		cl.fail(ErrClosePanic)
	}
}

// fail sends a protocol error message with e's reason, then closes.
func (cl *Client) fail(e *CloseError) {
	cl.send(Message{Type: TypeError, SenderID: cl.m.peerID, TargetID: cl.peerID, Message: e.Reason})
	cl.close(e)
}

func (cl *Client) String() string { return fmt.Sprintf("%s#%d", cl.peerID, cl.id) }
