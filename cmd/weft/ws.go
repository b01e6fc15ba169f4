package main

import (
	"bufio"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/weft-dev/weft/session"
)

// wsConfig holds the WebSocket settings chosen in serve.
type wsConfig struct {
	MaxMessage     int64
	SendQueue      int
	PingPeriod     time.Duration
	PongWait       time.Duration
	AllowedOrigins []string // hosts (host[:port]) allowed besides the request's own
	Logger         *slog.Logger
}

// newMelody configures melody where its defaults are wrong for a CRDT
// peer (STYLE.md): origin check, message size, buffer, and eviction of slow
// readers instead of silent drops.
func newMelody(cfg wsConfig, mgr *session.Manager) *melody.Melody {
	m := melody.New()
	m.Config.MaxMessageSize = cfg.MaxMessage
	// Headroom over our own queue limit, so a close frame still fits.
	m.Config.MessageBufferSize = cfg.SendQueue + 8
	m.Config.PingPeriod = cfg.PingPeriod
	m.Config.PongWait = cfg.PongWait
	m.Config.WriteWait = 10 * time.Second
	m.Upgrader.CheckOrigin = originChecker(cfg.AllowedOrigins)
	// Zero: reuse the HTTP server's 4 KiB reader instead of a second buffer.
	m.Upgrader.ReadBufferSize = 0
	m.Upgrader.WriteBufferSize = 4096
	m.Upgrader.WriteBufferPool = &sync.Pool{}

	m.HandleConnect(func(s *melody.Session) {
		c := connOf(s)
		c.s = s
		c.limit = int64(cfg.SendQueue)
		cl, err := mgr.Connect(c, remoteIP(s.Request))
		if err != nil {
			return
		}
		s.Set("client", cl)
	})
	m.HandleMessageBinary(func(s *melody.Session, b []byte) {
		if cl := clientOf(s); cl != nil {
			cl.Receive(b)
		}
	})
	m.HandleMessage(func(s *melody.Session, _ []byte) {
		connOf(s).Close(session.CloseProtocol, "text frames are not part of the protocol; send binary CBOR")
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
		case strings.Contains(err.Error(), "read limit exceeded"):
			cfg.Logger.Info("closing connection: message too large", "remote", remoteIP(s.Request))
		default:
			cfg.Logger.Debug("websocket error", "remote", remoteIP(s.Request), "err", err)
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
func upgrade(m *melody.Melody, w http.ResponseWriter, r *http.Request) {
	c := &wsConn{}
	hw := &hijackWriter{ResponseWriter: w, conn: c}
	if err := m.HandleRequestWithKeys(hw, r, map[string]any{"conn": c}); err != nil {
		// The upgrader already answered with an error status.
		return
	}
}

type hijackWriter struct {
	http.ResponseWriter
	conn *wsConn
}

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	nc, rw, err := hj.Hijack()
	if err == nil {
		h.conn.raw = nc
	}
	return nc, rw, err
}

// originChecker allows requests without an Origin (non-browser clients),
// same-host origins, and the configured hosts ("*" allows all).
func originChecker(allowed []string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if origin == "" {
			return true
		}
		u, err := url.Parse(origin)
		if err != nil {
			return false
		}
		if strings.EqualFold(u.Host, r.Host) {
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

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
