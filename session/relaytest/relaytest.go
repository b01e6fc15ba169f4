// Package relaytest is the contract test suite every session.Relay
// implementation passes (like testing/fstest for file systems): the
// in-memory relay in package session and the NATS relay in
// session/natsrelay run the same Run.
package relaytest

import (
	"bytes"
	"context"
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

// recorder is a RelayHandler that keeps what it received.
type recorder struct {
	mu       sync.Mutex
	changes  [][]byte
	eph      [][]byte
	catchUps int
}

func (r *recorder) RelayChanges(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, b)
}

func (r *recorder) RelayEphemeral(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.eph = append(r.eph, b)
}

func (r *recorder) RelayCatchUp() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.catchUps++
}

func (r *recorder) counts() (changes, eph, catchUps int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.changes), len(r.eph), r.catchUps
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
	cancel, err := r.Subscribe(doc, h)
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
	t.Run("changes reach others in order, never the publisher", func(t *testing.T) { testChangesInOrder(t, nodes) })
	t.Run("ephemeral and poke", func(t *testing.T) { testEphemeralAndPoke(t, nodes) })
	t.Run("cancel stops delivery", func(t *testing.T) { testCancel(t, nodes) })
	t.Run("catch-up gathers every node's answer", func(t *testing.T) { testCatchUp(t, nodes) })
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

func testChangesInOrder(t *testing.T, nodes NewNodes) {
	rs := nodes(t, 3)
	const doc = "doc1"
	self, _ := subscribe(t, rs[0], doc)
	b, _ := subscribe(t, rs[1], doc)
	c, _ := subscribe(t, rs[2], doc)
	other, _ := subscribe(t, rs[1], "doc2")
	settle(t, rs)
	const n = 200
	for i := 0; i < n; i++ {
		if err := rs[0].PublishChanges(context.Background(), doc, []byte(fmt.Sprintf("change %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range []*recorder{b, c} {
		eventually(t, "every change", func() bool { n2, _, _ := h.counts(); return n2 == n })
		h.mu.Lock()
		for i, got := range h.changes {
			if want := fmt.Sprintf("change %d", i); string(got) != want {
				t.Fatalf("message %d is %q, want %q", i, got, want)
			}
		}
		h.mu.Unlock()
	}
	settle(t, rs)
	time.Sleep(20 * time.Millisecond)
	if n, _, _ := self.counts(); n != 0 {
		t.Fatalf("publisher received %d of its own messages", n)
	}
	if n, _, _ := other.counts(); n != 0 {
		t.Fatalf("another document's subscriber received %d messages", n)
	}
}

func testEphemeralAndPoke(t *testing.T, nodes NewNodes) {
	rs := nodes(t, 2)
	const doc = "doc1"
	self, _ := subscribe(t, rs[0], doc)
	b, _ := subscribe(t, rs[1], doc)
	settle(t, rs)
	if err := rs[0].PublishEphemeral(doc, []byte("cursor")); err != nil {
		t.Fatal(err)
	}
	if err := rs[0].Poke(doc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ephemeral and poke", func() bool { _, e, p := b.counts(); return e == 1 && p == 1 })
	b.mu.Lock()
	if string(b.eph[0]) != "cursor" {
		t.Errorf("ephemeral frame %q", b.eph[0])
	}
	b.mu.Unlock()
	settle(t, rs)
	if c, e, p := self.counts(); c+e+p != 0 {
		t.Fatalf("publisher received its own messages: %d %d %d", c, e, p)
	}
}

func testCancel(t *testing.T, nodes NewNodes) {
	rs := nodes(t, 2)
	const doc = "doc1"
	b, cancel := subscribe(t, rs[1], doc)
	settle(t, rs)
	rs[0].PublishChanges(context.Background(), doc, []byte("one"))
	eventually(t, "first change", func() bool { n, _, _ := b.counts(); return n == 1 })
	cancel()
	cancel() // idempotent
	settle(t, rs)
	rs[0].PublishChanges(context.Background(), doc, []byte("two"))
	settle(t, rs)
	time.Sleep(20 * time.Millisecond)
	if n, _, _ := b.counts(); n != 1 {
		t.Fatalf("%d changes after cancel, want 1", n)
	}
}

func testCatchUp(t *testing.T, nodes NewNodes) {
	rs := nodes(t, 4)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16+7) // over NATS's default 1 MiB payload
	answers := map[int][]byte{1: []byte("small answer"), 2: big}
	for i, r := range rs {
		r.Serve(func(doc string) ([]byte, error) {
			if doc != "doc1" {
				return nil, nil
			}
			return answers[i], nil // node 3 has nothing, node 0 asks
		})
	}
	settle(t, rs)
	checkCatchUpAnswers(t, rs[0], answers[1], big)
	got, err := rs[0].CatchUp(context.Background(), "doc2")
	if err != nil || len(got) != 0 {
		t.Fatalf("catch-up of an unknown document: %d answers, %v", len(got), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	rs[0].CatchUp(ctx, "doc1")
	if time.Since(start) > time.Second {
		t.Errorf("catch-up ignored its cancelled context")
	}
}

// checkCatchUpAnswers asks for doc1 and wants exactly the two answers,
// intact and quickly (every node answers, so nothing waits for a timeout).
func checkCatchUpAnswers(t *testing.T, r session.Relay, small, big []byte) {
	t.Helper()
	start := time.Now()
	got, err := r.CatchUp(context.Background(), "doc1")
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if len(got) != 2 {
		t.Fatalf("%d answers, want 2", len(got))
	}
	var sawSmall, sawBig bool
	for _, a := range got {
		sawSmall = sawSmall || bytes.Equal(a, small)
		sawBig = sawBig || bytes.Equal(a, big)
	}
	if !sawSmall || !sawBig {
		t.Fatalf("answers corrupted (small %v, big %v; lengths %d, %d)", sawSmall, sawBig, len(got[0]), len(got[1]))
	}
	if took > 2*time.Second {
		t.Errorf("catch-up took %v with every node answering", took)
	}
}

func testClosedRefuses(t *testing.T, nodes NewNodes) {
	rs := nodes(t, 1)
	rs[0].Close()
	if _, err := rs[0].Subscribe("doc1", &recorder{}); err == nil {
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
