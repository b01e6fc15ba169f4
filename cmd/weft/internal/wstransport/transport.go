package wstransport

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/weft-dev/weft/cmd/weft/internal/clientip"
	"github.com/weft-dev/weft/cmd/weft/internal/limits"
	"github.com/weft-dev/weft/cmd/weft/internal/metrics"
	"github.com/weft-dev/weft/session"
)

// Config holds the WebSocket settings.
type Config struct {
	MaxMessage     int64
	SendQueue      int
	PingPeriod     time.Duration
	PongWait       time.Duration
	AllowedOrigins []string // hosts (host[:port]) allowed besides the request's own
	Logger         *slog.Logger
	// Per connection: messages per second (bursts of MsgBurst) and bytes
	// per second; zero means no limit.
	MsgRate   float64
	MsgBurst  int
	BytesRate int64
	Metrics   *metrics.Metrics // nil: not counted
}

// Transport serves WebSocket connections through melody and hands each
// one to the session manager.
type Transport struct {
	m       *melody.Melody
	log     *slog.Logger
	metrics *metrics.Metrics
	conns   sync.WaitGroup // connection goroutines still serving
}

// New configures a Transport for mgr.
func New(cfg Config, mgr *session.Manager) *Transport {
	return &Transport{m: newMelody(cfg, mgr), log: cfg.Logger, metrics: cfg.Metrics}
}

// Serve upgrades r and serves the connection on a goroutine of its own;
// it returns once the connection is hijacked (or the upgrade failed).
// auth is what the request's token grants (nil: open mode); release is
// called when the connection is over.
func (t *Transport) Serve(w http.ResponseWriter, r *http.Request, auth *session.Auth, release func()) {
	onPanic := func() {}
	if t.metrics != nil {
		onPanic = func() { t.metrics.Panicked("websocket") }
	}
	t.conns.Add(1)
	upgrade(t.m, w, r, auth, func() { release(); t.conns.Done() }, t.log, onPanic)
}

// closeGrace is how long Close lets peers answer the close frames the
// session manager sent before it cuts the connections still open.
const closeGrace = 2 * time.Second

// Close ends every connection and waits for their goroutines before it
// stops melody (or until ctx ends). The session manager has sent each peer
// its close frame: peers get closeGrace to read it and close, then the
// stragglers are cut. Stopping melody first would be wrong: melody 1.1.4's
// connection goroutine, ending after its hub stopped, blocks for good on
// the hub's unregister channel and never releases its admission slot.
func (t *Transport) Close(ctx context.Context) error {
	grace, cancel := context.WithTimeout(ctx, closeGrace)
	defer cancel()
	if !t.wait(grace) {
		sessions, _ := t.m.Sessions()
		for _, s := range sessions {
			connOf(s).hardClose()
		}
		if !t.wait(ctx) {
			t.log.Warn("WebSocket connections still closing at shutdown")
		}
	}
	return t.m.Close()
}

// wait reports whether every connection goroutine ended before ctx did.
func (t *Transport) wait(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		t.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// newMelody configures melody where its defaults are wrong for a CRDT
// peer (STYLE.md): origin check, message size, buffer, and eviction of slow
// readers instead of silent drops.
func newMelody(cfg Config, mgr *session.Manager) *melody.Melody {
	m := melody.New()
	m.Config.MaxMessageSize = cfg.MaxMessage
	// Headroom over our own queue limit, so a close frame still fits.
	m.Config.MessageBufferSize = cfg.SendQueue + 8
	m.Config.PingPeriod = cfg.PingPeriod
	m.Config.PongWait = cfg.PongWait
	m.Config.WriteWait = 10 * time.Second
	m.Upgrader.CheckOrigin = OriginChecker(cfg.AllowedOrigins)
	// Zero: reuse the HTTP server's 4 KiB reader instead of a second buffer.
	m.Upgrader.ReadBufferSize = 0
	m.Upgrader.WriteBufferSize = 4096
	m.Upgrader.WriteBufferPool = &sync.Pool{}

	m.HandleConnect(func(s *melody.Session) {
		c := connOf(s)
		c.s = s
		c.limit = int64(cfg.SendQueue)
		a, _ := s.Get("auth")
		auth, _ := a.(*session.Auth)
		cl, err := mgr.Connect(c, clientip.RemoteIP(s.Request), auth)
		if err != nil {
			return
		}
		s.Set("client", cl)
	})
	m.HandleMessageBinary(func(s *melody.Session, b []byte) {
		c := connOf(s)
		if c.rate == nil {
			c.rate = limits.NewConnRate(cfg.MsgRate, cfg.MsgBurst, cfg.BytesRate, cfg.MaxMessage)
		}
		if !c.rate.Wait(len(b)) {
			if c.limited.CompareAndSwap(false, true) {
				cfg.Logger.Warn("closing connection: message rate over the limit", "audit", "limit_message_rate", "remote", clientip.RemoteIP(s.Request))
				if cfg.Metrics != nil {
					cfg.Metrics.Limited("message_rate")
				}
				if cl := clientOf(s); cl != nil {
					cl.CloseWith(session.ErrCloseRateLimited)
				} else {
					c.Close(session.ErrCloseRateLimited.Code, session.ErrCloseRateLimited.Reason)
				}
			}
			return
		}
		if cl := clientOf(s); cl != nil {
			cl.Receive(b)
		}
	})
	m.HandleMessage(func(s *melody.Session, _ []byte) {
		connOf(s).Close(session.ErrCloseTextFrame.Code, session.ErrCloseTextFrame.Reason)
	})
	m.HandleSentMessageBinary(func(s *melody.Session, _ []byte) {
		connOf(s).queued.Add(-1)
	})
	m.HandleDisconnect(func(s *melody.Session) {
		if cl := clientOf(s); cl != nil {
			cl.Closed()
		}
	})
	m.HandleError(func(s *melody.Session, err error) {
		var ce *websocket.CloseError
		switch {
		case errors.Is(err, melody.ErrMessageBufferFull):
			connOf(s).hardClose()
		case errors.As(err, &ce), errors.Is(err, net.ErrClosed), errors.Is(err, melody.ErrWriteClosed):
		case errors.Is(err, websocket.ErrReadLimit):
			cfg.Logger.Warn("closing connection: message too large", "audit", "limit_message_size", "remote", clientip.RemoteIP(s.Request))
			if cfg.Metrics != nil {
				cfg.Metrics.Limited("message_size")
			}
		default:
			cfg.Logger.Debug("websocket error", "remote", clientip.RemoteIP(s.Request), "err", err)
		}
	})
	return m
}

// wsConn adapts a melody session to session.Conn with a bounded queue.
type wsConn struct {
	s      *melody.Session
	raw    net.Conn // the hijacked connection, to cut it if a close stalls
	limit  int64
	queued atomic.Int64
	once   sync.Once

	rate    *limits.ConnRate // read goroutine only
	limited atomic.Bool
}

var errQueueFull = errors.New("send queue full")

func (c *wsConn) Send(frame []byte) error {
	if c.queued.Add(1) > c.limit {
		c.queued.Add(-1)
		return errQueueFull
	}
	if err := c.s.WriteBinary(frame); err != nil {
		c.queued.Add(-1)
		return err
	}
	return nil
}

func (c *wsConn) Close(code int, reason string) {
	c.once.Do(func() {
		if c.s != nil {
			c.s.CloseWithMsg(websocket.FormatCloseMessage(code, reason))
		}
		// A peer that does not read never receives the close frame.
		time.AfterFunc(5*time.Second, c.hardClose)
	})
}

func (c *wsConn) hardClose() {
	if c.raw != nil {
		c.raw.Close()
	}
}

func connOf(s *melody.Session) *wsConn {
	v, _ := s.Get("conn")
	c, _ := v.(*wsConn)
	if c == nil {
		c = &wsConn{}
	}
	return c
}

func clientOf(s *melody.Session) *session.Client {
	v, _ := s.Get("client")
	cl, _ := v.(*session.Client)
	return cl
}

// upgrade hands a request to melody, remembering the hijacked net.Conn.
// auth is what the request's token grants (nil: open mode); release is
// called when the connection is over, onPanic after a recovered panic.
//
// melody's handler serves the connection until it ends, on the goroutine
// it is called on. Called on net/http's, it would keep that goroutine's
// stack (8 KiB, grown by net/http and the routing in front of it) and
// net/http's connection state alive for the connection's life. So melody
// runs on a goroutine of its own, and net/http's returns as soon as the
// connection is hijacked (after that, net/http is done with it).
func upgrade(m *melody.Melody, w http.ResponseWriter, r *http.Request, auth *session.Auth, release func(), log *slog.Logger, onPanic func()) {
	c := &wsConn{}
	hw := &hijackWriter{ResponseWriter: w, conn: c, hijacked: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer release()
		defer func() {
			// Off net/http's goroutine, a panic would no longer be
			// caught there: keep the server up, drop the connection.
			if p := recover(); p != nil {
				log.Error("panic serving a WebSocket connection", "panic", p, "stack", string(debug.Stack()))
				onPanic()
				if c.raw != nil {
					c.raw.Close()
				}
			}
		}()
		// An error means the upgrader has answered with an error status.
		m.HandleRequestWithKeys(hw, r, map[string]any{"conn": c, "auth": auth})
	}()
	select {
	case <-hw.hijacked:
	case <-done:
	}
}

type hijackWriter struct {
	http.ResponseWriter
	conn     *wsConn
	hijacked chan struct{} // closed once the connection is hijacked
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	nc, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.conn.raw = tooLargeConn{nc}
	close(h.hijacked)
	return h.conn.raw, rw, nil
}

// Refuse accepts the upgrade and closes at once with code and
// reason: automerge-repo's Node client crashes on a refused upgrade
// (PROTOCOL.md §6), and a close code tells it whether to retry. A
// cross-site request still gets the upgrader's 403.
func Refuse(w http.ResponseWriter, r *http.Request, checkOrigin func(*http.Request) bool, why *session.CloseError) {
	up := websocket.Upgrader{CheckOrigin: checkOrigin, ReadBufferSize: 512, WriteBufferSize: 512}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	deadline := time.Now().Add(2 * time.Second)
	conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(why.Code, why.Reason), deadline)
	// Wait briefly for the peer's close reply so that it reads ours.
	conn.SetReadDeadline(deadline)
	conn.SetReadLimit(4096)
	for {
		if _, _, err := conn.NextReader(); err != nil {
			break
		}
	}
	conn.Close()
}

// OriginChecker allows requests without an Origin (non-browser clients),
// same-host origins, and the configured hosts ("*" allows all).
func OriginChecker(allowed []string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		// Same host; when the page's connection is known to be TLS (here
		// or at a trusted proxy), a plain-http page of it may not connect.
		if strings.EqualFold(u.Host, r.Host) && (!clientip.HTTPS(r) || strings.EqualFold(u.Scheme, "https")) {
			return true
		}
		for _, a := range allowed {
			if a == "*" || strings.EqualFold(a, u.Host) || strings.EqualFold(a, origin) {
				return true
			}
		}
		return false
	}
}
