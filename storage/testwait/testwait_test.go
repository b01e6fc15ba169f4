package testwait

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeTB records Fatalf instead of ending the test; For returns after it.
type fakeTB struct {
	testing.TB // nil: calling anything but Helper and Fatalf panics
	fatal      []string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = append(f.fatal, fmt.Sprintf(format, args...))
}

func TestForReturnsWhenConditionBecomesTrue(t *testing.T) {
	// Set by another goroutine, later.
	var ready atomic.Bool
	start := time.Now()
	go func() {
		time.Sleep(30 * time.Millisecond) // the thing waited for: it happens later, in another goroutine
		ready.Store(true)
	}()
	For(t, Timeout, "ready", func() error {
		if !ready.Load() {
			return errors.New("not yet")
		}
		return nil
	})
	if el := time.Since(start); el < 30*time.Millisecond || el > 5*time.Second {
		t.Errorf("For returned after %s", el)
	}
	// True from the third call on: For polls, with growing pauses (1ms, 2ms).
	n := 0
	start = time.Now()
	Until(t, Timeout, "the third call", func() bool { n++; return n >= 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
	if el := time.Since(start); el < 3*time.Millisecond {
		t.Errorf("three polls in %s: no pause between them", el)
	}
}

func TestForFailsWithLastError(t *testing.T) {
	f := &fakeTB{}
	n := 0
	start := time.Now()
	For(f, 100*time.Millisecond, "the answer", func() error {
		n++
		return fmt.Errorf("attempt %d", n)
	})
	if el := time.Since(start); el < 100*time.Millisecond || el > 5*time.Second {
		t.Errorf("For gave up after %s, want about 100ms", el)
	}
	if len(f.fatal) != 1 {
		t.Fatalf("Fatalf called %d times: %q", len(f.fatal), f.fatal)
	}
	want := fmt.Sprintf("the answer: not reached after 100ms: attempt %d", n)
	if f.fatal[0] != want {
		t.Errorf("message %q, want %q", f.fatal[0], want)
	}
	// Called before and after the deadline at least; and the interval
	// grows: 100ms is not a thousand polls.
	if n < 2 || n > 30 {
		t.Errorf("cond called %d times in 100ms", n)
	}
}

func TestUntilFails(t *testing.T) {
	f := &fakeTB{}
	Until(f, 20*time.Millisecond, "never", func() bool { return false })
	if len(f.fatal) != 1 || !strings.HasPrefix(f.fatal[0], "never: not reached after 20ms: ") {
		t.Errorf("Fatalf calls %q", f.fatal)
	}
}

func TestConditionTrueAtDeadlinePasses(t *testing.T) {
	f := &fakeTB{}
	deadline := time.Now().Add(20 * time.Millisecond)
	// Holds only from the deadline on: the last poll, after the deadline, sees it.
	For(f, 20*time.Millisecond, "late", func() error {
		if time.Now().Before(deadline) {
			return errors.New("early")
		}
		return nil
	})
	if len(f.fatal) != 0 {
		t.Errorf("Fatalf calls %q", f.fatal)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
