package crdt

import "time"

// Backoff spaces out retries of something that keeps failing (a worker
// that keeps dying, a reload that meets a restarting worker): Base before
// the first retry, doubling with each attempt, never more than Max.
type Backoff struct {
	Base time.Duration
	Max  time.Duration // zero: no cap
}

// Delay returns the wait before retry attempt (0 for the first): Base
// doubled attempt times, capped at Max. It never overflows.
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Base
	for i := 0; i < attempt && d > 0; i++ {
		if b.Max > 0 && d >= b.Max {
			break
		}
		if d > (1<<63-1)/2 {
			d = 1<<63 - 1
			break
		}
		d *= 2
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	return d
}

// Next returns the wait after one of d: d doubled, at least Base and at
// most Max, so that Next(Delay(n)) == Delay(n+1) and Next(0) == Base.
func (b Backoff) Next(d time.Duration) time.Duration {
	if d > (1<<63-1)/2 {
		d = 1<<63 - 1
	} else {
		d *= 2
	}
	d = max(d, b.Base)
	if b.Max > 0 {
		d = min(d, b.Max)
	}
	return d
}
