package main

import (
	"bytes"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/weft-dev/weft/session"
)

// admission decides whether a new connection may start: an admission
// bucket (so that a mass reconnect after a restart is spread out), a cap
// on connections in total and one per remote address. Refused upgrades
// are accepted and closed with CloseTryAgainLater; automerge-repo clients
// reconnect with backoff.
type admission struct {
	bucket   *rate.Limiter // nil: no admission rate
	maxTotal int           // 0: no cap
	maxPerIP int           // 0: no cap

	mu    sync.Mutex
	total int
	perIP map[string]int
}

func newAdmission(perSecond float64, burst, maxTotal, maxPerIP int) *admission {
	a := &admission{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: map[string]int{}}
	if perSecond > 0 {
		a.bucket = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
	}
	return a
}

// admit reserves a connection slot for ip. It returns a release func, or
// the reason it refused ("admission_rate", "max_conns", "max_conns_per_ip").
func (a *admission) admit(ip string) (release func(), refused string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.maxTotal > 0 && a.total >= a.maxTotal:
		return nil, "max_conns"
	case a.maxPerIP > 0 && a.perIP[ip] >= a.maxPerIP:
		return nil, "max_conns_per_ip"
	case a.bucket != nil && !a.bucket.Allow():
		return nil, "admission_rate"
	}
	a.total++
	a.perIP[ip]++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			a.total--
			if a.perIP[ip]--; a.perIP[ip] <= 0 {
				delete(a.perIP, ip)
			}
		})
	}, ""
}

// connRate throttles one connection's incoming messages and bytes. The
// read goroutine waits out the bucket (TCP pushes back on the sender); a
// connection kept throttled for longer than maxThrottled is cut with
// CloseRateLimited.
type connRate struct {
	msgs, bytes *rate.Limiter // nil: no limit
	throttled   time.Duration // consecutive time spent waiting
}

// maxThrottled is how long a connection may stay over its rate.
const maxThrottled = 5 * time.Second

func newConnRate(msgsPerSec float64, msgBurst int, bytesPerSec int64, maxMessage int64) *connRate {
	r := &connRate{}
	if msgsPerSec > 0 {
		r.msgs = rate.NewLimiter(rate.Limit(msgsPerSec), max(msgBurst, 1))
	}
	if bytesPerSec > 0 {
		// A burst of at least one whole message: the largest allowed
		// message must pass, then the bucket slows what follows.
		r.bytes = rate.NewLimiter(rate.Limit(bytesPerSec), int(max(bytesPerSec, maxMessage)))
	}
	return r
}

// wait blocks until a message of n bytes fits; it reports false when the
// connection has been over its rate for too long.
func (r *connRate) wait(n int) bool {
	if r == nil {
		return true
	}
	now := time.Now()
	var delay time.Duration
	if r.msgs != nil {
		delay = r.msgs.ReserveN(now, 1).DelayFrom(now)
	}
	if r.bytes != nil {
		if res := r.bytes.ReserveN(now, n); res.OK() {
			delay = max(delay, res.DelayFrom(now))
		}
	}
	if delay <= 0 {
		r.throttled = 0
		return true
	}
	r.throttled += delay
	if r.throttled > maxThrottled {
		return false
	}
	time.Sleep(delay)
	return true
}

// tooLargeConn puts weft's documented close code on oversized messages.
// gorilla/websocket closes such a connection by itself, with 1009 and no
// reason, before the application hears of it; this connection rewrites
// that one frame into CloseTooLarge (4502: do not resend it unchanged).
type tooLargeConn struct{ net.Conn }

// gorillaTooBig is that frame: FIN|close, 2 bytes of payload, code 1009.
// gorilla writes each control frame with a single Write, and a server's
// frames are not masked, so the bytes are exact.
var gorillaTooBig = []byte{0x88, 0x02, 0x03, 0xf1}

var tooLargeFrame = func() []byte {
	p := websocket.FormatCloseMessage(session.CloseTooLarge, "message over the size limit")
	return append([]byte{0x88, byte(len(p))}, p...)
}()

func (c tooLargeConn) Write(p []byte) (int, error) {
	if bytes.Equal(p, gorillaTooBig) {
		if _, err := c.Conn.Write(tooLargeFrame); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}
