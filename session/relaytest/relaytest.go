// Package relaytest is the contract test suite every session.Relay
// implementation passes (like testing/fstest for file systems): the
// in-memory relay in package session and the NATS relay in
// session/natsrelay run the same Run.
package relaytest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/weft-dev/weft/session"
)

// NewNodes returns n relays of one cluster, each with its own node id. The
// suite closes them.
type NewNodes func(t *testing.T, n int) []session.Relay

// wait bounds every "eventually" of the suite.
const wait = 10 * time.Second

// recorder keeps the frames a subscription received.
type recorder struct {
	mu  sync.Mutex
	eph [][]byte
}

func (r *recorder) handle(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eph = append(r.eph, b)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.eph)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func subscribe(t *testing.T, r session.Relay, doc string) (*recorder, func()) {
	t.Helper()
	h := &recorder{}
	cancel, err := r.Subscribe(doc, h.handle)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(cancel)
	return h, cancel
}

// settle gives subscriptions time to reach the other side (NATS sends
// SUB asynchronously); a relay that needs none returns at once.
func settle(t *testing.T, rs []session.Relay) {
	t.Helper()
	for _, r := range rs {
		if f, ok := r.(interface{ Flush() error }); ok {
			if err := f.Flush(); err != nil {
				t.Fatalf("Flush: %v", err)
			}
		}
	}
}

// Run runs the contract suite.
func Run(t *testing.T, newNodes NewNodes) {
	nodes := closingNodes(newNodes)
	t.Run("frames reach others in order, never the publisher", func(t *testing.T) { testInOrder(t, nodes) })
	t.Run("cancel stops delivery", func(t *testing.T) { testCancel(t, nodes) })
	t.Run("closed relay refuses", func(t *testing.T) { testClosedRefuses(t, nodes) })
}

// closingNodes wraps newNodes so every relay is closed twice when its test
// ends: Close must succeed and be idempotent.
func closingNodes(newNodes NewNodes) NewNodes {
	return func(t *testing.T, n int) []session.Relay {
		t.Helper()
		rs := newNodes(t, n)
		t.Cleanup(func() {
			for _, r := range rs {
				if err := r.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
				if err := r.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
			}
		})
		return rs
	}
}

func testInOrder(t *testing.T, nodes NewNodes) {
	rs := nodes(t, 3)
	const doc = "doc1"
	self, _ := subscribe(t, rs[0], doc)
	b, _ := subscribe(t, rs[1], doc)
	c, _ := subscribe(t, rs[2], doc)
	other, _ := subscribe(t, rs[1], "doc2")
	settle(t, rs)
	const n = 200
	for i := 0; i < n; i++ {
		if err := rs[0].PublishEphemeral(doc, []byte(fmt.Sprintf("frame %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []*recorder{b, c} {
		eventually(t, "every frame", func() bool { return h.count() == n })
		h.mu.Lock()
		for i, got := range h.eph {
			if want := fmt.Sprintf("frame %d", i); string(got) != want {
				t.Fatalf("frame %d is %q, want %q", i, got, want)
			}
		}
		h.mu.Unlock()
	}
	settle(t, rs)
	time.Sleep(20 * time.Millisecond)
	if n := self.count(); n != 0 {
		t.Fatalf("publisher received %d of its own frames", n)
	}
	if n := other.count(); n != 0 {
		t.Fatalf("another document's subscriber received %d frames", n)
	}
}

func testCancel(t *testing.T, nodes NewNodes) {
	rs := nodes(t, 2)
	const doc = "doc1"
	b, cancel := subscribe(t, rs[1], doc)
	settle(t, rs)
	rs[0].PublishEphemeral(doc, []byte("one"))
	eventually(t, "first frame", func() bool { return b.count() == 1 })
	cancel()
	cancel() // idempotent
	settle(t, rs)
	rs[0].PublishEphemeral(doc, []byte("two"))
	settle(t, rs)
	time.Sleep(20 * time.Millisecond)
	if n := b.count(); n != 1 {
		t.Fatalf("%d frames after cancel, want 1", n)
	}
}

func testClosedRefuses(t *testing.T, nodes NewNodes) {
	rs := nodes(t, 1)
	rs[0].Close()
	if _, err := rs[0].Subscribe("doc1", func([]byte) {}); err == nil {
		t.Fatal("Subscribe after Close succeeded")
	}
}

// RunNATS starts an embedded nats-server on loopback for a test (port -1
// picks a free one) and shuts it down when the test ends.
func RunNATS(t testing.TB, port int) *natsserver.Server {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}
