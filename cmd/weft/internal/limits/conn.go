package limits

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Admission decides whether a new connection may start: an admission
// bucket (so that a mass reconnect after a restart is spread out), a cap
// on connections in total and one per remote address. Refused upgrades
// are accepted and closed with CloseTryAgainLater; automerge-repo clients
// reconnect with backoff.
type Admission struct {
	bucket   *rate.Limiter // nil: no admission rate
	maxTotal int           // 0: no cap
	maxPerIP int           // 0: no cap

	mu    sync.Mutex
	total int
	perIP map[string]int
}

func NewAdmission(perSecond float64, burst, maxTotal, maxPerIP int) *Admission {
	a := &Admission{maxTotal: maxTotal, maxPerIP: maxPerIP, perIP: map[string]int{}}
	if perSecond > 0 {
		a.bucket = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
	}
	return a
}

// Admit reserves a connection slot for ip. It returns a release func, or
// the reason it refused ("admission_rate", "max_conns", "max_conns_per_ip").
func (a *Admission) Admit(ip string) (release func(), refused string) {
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

// ConnRate throttles one connection's incoming messages and bytes. The
// read goroutine waits out the bucket (TCP pushes back on the sender); a
// connection kept throttled for longer than maxThrottled is cut with
// CloseRateLimited.
type ConnRate struct {
	msgs, bytes *rate.Limiter // nil: no limit
	throttled   time.Duration // consecutive time spent waiting
}

// maxThrottled is how long a connection may stay over its rate.
const maxThrottled = 5 * time.Second

func NewConnRate(msgsPerSec float64, msgBurst int, bytesPerSec int64, maxMessage int64) *ConnRate {
	r := &ConnRate{}
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

// Wait blocks until a message of n bytes fits; it reports false when the
// connection has been over its rate for too long.
func (r *ConnRate) Wait(n int) bool {
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
		// Only a connection that has clearly dropped below its rate (half
		// a burst saved up) starts afresh: a sender held at the limit
		// whose messages now and then arrive late (a busy machine) is
		// still a flood.
		if r.recovered(now) {
			r.throttled = 0
		}
		return true
	}
	r.throttled += delay
	if r.throttled > maxThrottled {
		return false
	}
	time.Sleep(delay)
	return true
}

func (r *ConnRate) recovered(now time.Time) bool {
	for _, l := range []*rate.Limiter{r.msgs, r.bytes} {
		if l != nil && l.TokensAt(now) < float64(l.Burst())/2 {
			return false
		}
	}
	return true
}
