package crdt

import (
	"math"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	// The pool's timings, as they were written before Backoff.
	for n := 2; n < 70; n++ {
		if got, want := dyingBackoff.Delay(n-1), min(10*time.Millisecond<<min(n-1, 10), time.Second); got != want {
			t.Fatalf("death %d: %v, want %v", n, got, want)
		}
	}
	for d := time.Duration(0); d < 6*time.Second; d += 7 * time.Millisecond {
		if got, want := restartBackoff.Next(d), min(max(2*d, 100*time.Millisecond), 5*time.Second); got != want {
			t.Fatalf("after %v: %v, want %v", d, got, want)
		}
	}
	// session's retries: 20ms << attempt.
	b := Backoff{Base: 20 * time.Millisecond}
	for a := 0; a < 4; a++ {
		if got := b.Delay(a); got != 20*time.Millisecond<<a {
			t.Fatalf("attempt %d: %v", a, got)
		}
		if b.Next(b.Delay(a)) != b.Delay(a+1) {
			t.Fatalf("Next(Delay(%d)) != Delay(%d)", a, a+1)
		}
	}
	if got := b.Delay(1000); got != math.MaxInt64 {
		t.Fatalf("uncapped Delay(1000) = %v, want saturation", got)
	}
	if got := b.Delay(-1); got != b.Base {
		t.Fatalf("Delay(-1) = %v", got)
	}
	if got := (Backoff{}).Delay(5); got != 0 {
		t.Fatalf("zero Backoff: %v", got)
	}
}
