package limits

import (
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// APILimiter is a token bucket per client IP for API calls: a script gone
// wrong gets 429s instead of starving the documents' goroutines.
type APILimiter struct {
	rate  rate.Limit
	burst int

	mu    sync.Mutex // guards ips and swept
	ips   map[string]*rate.Limiter
	swept time.Time
}

// NewAPILimiter returns nil (no limit) when perSecond <= 0.
func NewAPILimiter(perSecond float64, burst int) *APILimiter {
	if perSecond <= 0 {
		return nil
	}
	return &APILimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), ips: map[string]*rate.Limiter{}}
}

// Allow takes a token for ip; when there is none it returns how long until
// there is.
func (l *APILimiter) Allow(ip string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		// Forget full buckets: a new one is the same.
		for k, b := range l.ips {
			if b.TokensAt(now) >= float64(l.burst) {
				delete(l.ips, k)
			}
		}
		l.swept = now
	}
	b := l.ips[ip]
	if b == nil {
		b = rate.NewLimiter(l.rate, l.burst)
		l.ips[ip] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// RetryAfter formats a delay for the Retry-After header (whole seconds,
// at least 1).
func RetryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}
