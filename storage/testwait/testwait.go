package testwait

import (
	"errors"
	"testing"
	"time"
)

// Timeout is the usual bound for a wait: long enough for a loaded CI
// machine, short enough that a condition that never holds fails quickly.
const Timeout = 10 * time.Second

// Polling intervals: the first poll follows at once, then the interval
// grows from minInterval to maxInterval, so fast conditions are seen
// promptly and slow ones do not spin.
const (
	minInterval = time.Millisecond
	maxInterval = 50 * time.Millisecond
)

// errFalse is the error Until reports for a condition that stayed false.
var errFalse = errors.New("condition is false")

// For calls cond until it returns nil. If timeout passes first, it fails
// tb (Fatalf) naming what it waited for and cond's last error. Like
// tb.Fatalf, it must be called from the goroutine running the test.
func For(tb testing.TB, timeout time.Duration, what string, cond func() error) {
	tb.Helper()
	if err := poll(timeout, cond); err != nil {
		tb.Fatalf("%s: not reached after %s: %v", what, timeout, err)
	}
}

// Until is For with a condition that reports only whether it holds.
func Until(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	For(tb, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errFalse
	})
}

// poll calls cond until it returns nil, or returns its last error once
// timeout has passed. cond is always called at least once, and once more
// after the deadline, so a condition that holds by then is not failed.
func poll(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	interval := minInterval
	for {
		err := cond()
		if err == nil {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		time.Sleep(min(interval, left))
		interval = min(interval*2, maxInterval)
	}
}
