package session_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage/testwait"
)

// changeCarryingMessage returns a real sync message that carries the
// changes of a small document: the third message of a sync with an
// empty peer.
func changeCarryingMessage(t *testing.T) []byte {
	t.Helper()
	src := newText(t, "the quick brown fox")
	if err := src.SpliceText("text", 4, 5, "slow"); err != nil {
		t.Fatal(err)
	}
	dst := crdttest.NewReplica()
	for range 5 {
		msg, ok := src.GenerateMessage()
		if !ok {
			break
		}
		if n, _ := crdt.MessageChanges(msg); n > 0 {
			return msg
		}
		if err := dst.ReceiveMessage(msg); err != nil {
			t.Fatal(err)
		}
		if reply, ok := dst.GenerateMessage(); ok {
			if err := src.ReceiveMessage(reply); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("no sync message with changes")
	return nil
}

// waitWorkersUp waits until the pool's workers and its probe worker run
// again after the crashes. Shutting a Pool down while a worker is being
// restarted panics in crdt (Pool.Shutdown closes the worker's up channel,
// then the restart loop's start closes it again).
func waitWorkersUp(t *testing.T, pool *crdt.Pool, valid []byte) {
	t.Helper()
	ctx := context.Background()
	testwait.For(t, waitTimeout, "the pool's workers back", func() error {
		_, err := pool.Open(ctx, "ready-check", nil)
		return err
	})
	pool.Close(ctx, "ready-check")
	if err := pool.Probe(ctx, nil, valid); err != nil {
		t.Errorf("probe worker not back: %v", err)
	}
}

// craftedMessages mutates valid with crdttest.MutateSyncMessage, trying each
// mutant on an empty document in a scratch pool, until it has nCrash that
// abort automerge-rs and nBad that it merely rejects.
func craftedMessages(t *testing.T, valid []byte, nCrash, nBad int) (crash, bad [][]byte) {
	t.Helper()
	tried := scanMutants(t, nil, valid, rand.NewPCG(7, 11), func(msg []byte, _ crdt.Result, err error) bool {
		switch {
		case errors.Is(err, crdt.ErrCrashed) && len(crash) < nCrash:
			crash = append(crash, msg)
		case errors.Is(err, crdt.ErrBadMessage) && len(bad) < nBad:
			bad = append(bad, msg)
		}
		return len(crash) == nCrash && len(bad) == nBad
	})
	if len(crash) < nCrash || len(bad) < nBad {
		t.Fatalf("%d tries gave %d crashing and %d rejected messages; want %d and %d", tried, len(crash), len(bad), nCrash, nBad)
	}
	t.Logf("%d crafted messages tried for %d crashing and %d rejected ones", tried, nCrash, nBad)
	return crash, bad
}

// scanMutants feeds mutants of valid (the stress test's mutator, from src)
// to a document opened from base in a scratch pool, one at a time, until
// done says it has enough or 20,000 were tried; it returns how many were.
func scanMutants(t *testing.T, base, valid []byte, src rand.Source, done func(msg []byte, res crdt.Result, err error) bool) int {
	t.Helper()
	scratch, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer scratch.Shutdown()
	ctx := context.Background()
	rng := rand.New(src)
	tried := 0
	for ; tried < 20000; tried++ {
		msg := crdttest.MutateSyncMessage(rng, valid)
		if _, err := scratch.Open(ctx, "scratch", base); err != nil {
			if errors.Is(err, crdt.ErrCrashed) || errors.Is(err, crdt.ErrClosed) {
				continue // the worker restarting after the last mutant
			}
			t.Fatalf("scratch open: %v", err)
		}
		res, err := scratch.Receive(ctx, crdt.Receive{Doc: "scratch", Peer: "evil", Msg: msg})
		if done(msg, res, err) {
			break
		}
	}
	waitWorkersUp(t, scratch, valid)
	return tried
}

func TestCrashIsolation(t *testing.T) {
	const strikes = 2
	valid := changeCarryingMessage(t)
	bombs, rejected := craftedMessages(t, valid, strikes, 3)

	crashes := make(chan string, 64)
	pool, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1, OnCrash: func(_ int, why string) {
		select {
		case crashes <- why:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs after the Manager's cleanup
		waitWorkersUp(t, pool, valid)
		pool.Shutdown()
	})
	e := newEnv(t, session.Config{Engine: pool, StrikeLimit: strikes, StrikeWindow: time.Minute, BanDuration: time.Minute})

	join := func(id, remote string) *testClient {
		c := e.connectFrom(id, remote, newFakeConn())
		c.join(&session.PeerMetadata{StorageID: "storage-" + id})
		c.expect(session.TypePeer)
		return c
	}
	x := crdt.NewDocumentID()
	a := newSyncClient(join("peer-a", "198.51.100.1"))
	b := newSyncClient(join("peer-b", "198.51.100.2"))
	a.open(x, newText(t, "A:"))
	b.open(x, crdttest.NewReplica())
	converged(t, x, "A:", a, b)

	// A edits X all through the attack.
	var (
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		aEdits atomic.Int64
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if a.isClosed() {
				return
			}
			a.edit(x, appendText(fmt.Sprintf("%d,", i)))
			aEdits.Add(1)
		}
	}()

	// The attacker sends crafted sync messages for Y, reconnecting after
	// every close. Messages Automerge merely rejects close the connection
	// but are no strikes; those that crash the engine are, until the ban.
	y := crdt.NewDocumentID()
	for _, msg := range rejected {
		atk := join("peer-evil", "203.0.113.66")
		atk.send(session.Message{Type: session.TypeSync, DocumentID: y, Data: msg})
		if reason := atk.expectClose(session.CloseBadSyncMessage); !strings.Contains(reason, "invalid") {
			t.Fatalf("rejected message closed with reason %q", reason)
		}
	}
	for i := 0; i < strikes; i++ {
		atk := join("peer-evil", "203.0.113.66")
		atk.send(session.Message{Type: session.TypeSync, DocumentID: y, Data: bombs[i]})
		atk.expectClose(session.CloseBadSyncMessage)
	}
	atk := e.connectFrom("peer-evil", "203.0.113.66", newFakeConn())
	atk.join(nil)
	if m := atk.next(); m.Type != session.TypeError {
		t.Fatalf("banned peer got %+v, want an error message", m)
	}
	atk.expectClose(session.CloseBanned)
	// The ban covers its address too, under another peer id.
	atk2 := e.connectFrom("peer-evil-2", "203.0.113.66", newFakeConn())
	atk2.join(nil)
	atk2.expectClose(session.CloseBanned)

	select {
	case why := <-crashes:
		t.Logf("worker died: %.200s", why)
	default:
		t.Fatal("the crafted messages did not crash the worker")
	}
	close(stop)
	wg.Wait()
	if a.isClosed() || b.isClosed() {
		ca, ra := a.conn.closeCode()
		cb, rb := b.conn.closeCode()
		t.Fatalf("innocent peers closed: a %d %q, b %d %q", ca, ra, cb, rb)
	}
	t.Logf("A made %d edits during the attack", aEdits.Load())

	// X keeps syncing: A's edits, during and after the attack, reach B.
	a.edit(x, appendText("after"))
	want := a.text(x)
	converged(t, x, want, a, b)
	if acked := a.ackedHeads(x); !acked.Equal(a.heads(x)) {
		t.Fatalf("server acknowledged %v, A has %v", acked, a.heads(x))
	}
	acked := a.everAcked(x)

	e.shutdown()
	stored := storedReplica(t, e.store, x)
	if stored == nil {
		t.Fatal("X not stored")
	}
	for _, h := range acked {
		if !stored.Has(h) {
			t.Fatalf("head %s, once advertised to A, is not in the store", h)
		}
	}
	t.Logf("%d heads advertised to A over the test, all stored", len(acked))
	if txt, _ := stored.Text("text"); txt != want {
		t.Fatalf("stored text %q, want %q", txt, want)
	}
	if ok, _ := e.store.Exists(y); ok {
		if r := storedReplica(t, e.store, y); r != nil && len(r.Heads()) > 0 {
			t.Fatalf("crashing messages left changes in Y: %v", r.Heads())
		}
	}
}
