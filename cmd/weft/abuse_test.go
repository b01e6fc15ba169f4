package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/testwait"
)

// Abuse on loopback, bounded in count and time. Each test asserts
// outcomes (close codes, convergence, what is stored), never durations.

// honestPair is a writer and a reader converged on one document.
func honestPair(t *testing.T, s *server) (a, b *wsClient, doc string) {
	t.Helper()
	doc = crdt.NewDocumentID()
	a = dial(t, s, "honest-a", dialOpts{})
	b = dial(t, s, "honest-b", dialOpts{})
	must(t, a.edit(doc, 0, 0, "x"))
	must(t, b.open(doc))
	testwait.Until(t, 10*time.Second, "b to load", func() bool { return b.text(doc) == "x" })
	return a, b, doc
}

// stillServing checks the server answers and a and b still sync.
func stillServing(t *testing.T, s *server, a, b *wsClient, doc, suffix string) {
	t.Helper()
	if code, body := httpGet(t, s.url+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d %s", code, body)
	}
	want := a.text(doc) + suffix
	must(t, a.edit(doc, len(a.text(doc)), 0, suffix))
	testwait.Until(t, 10*time.Second, "b to see a's edit", func() bool { return b.text(doc) == want })
}

// storedText reads a document's text from a stopped server's data.
func storedText(t *testing.T, s *server, doc string) string {
	t.Helper()
	st, err := storage.Open(filepath.Join(s.data, "weft.db"), nil)
	must(t, err)
	defer st.Close()
	ch, err := st.Load(doc)
	must(t, err)
	var all []byte
	for _, c := range append(ch.Snapshots, ch.Incrementals...) {
		all = append(all, c...)
	}
	r, err := crdttest.LoadReplica(all)
	must(t, err)
	txt, _ := r.Text("text")
	return txt
}

// Oversized messages are cut with 4502 (not gorilla's bare 1009), also
// one whose header alone announces a terabyte; the server stays up and
// other clients keep syncing.
func TestOversizedFramesClosedWith4502(t *testing.T) {
	const limit = 64 << 10
	s := startServer(t, "", "--max-message", fmt.Sprint(limit))
	a, b, doc := honestPair(t, s)

	big := dial(t, s, "big", dialOpts{localIP: "127.0.0.21"})
	must(t, big.sendRaw(make([]byte, limit+1)))

	// A frame header claiming 1 TiB, then nothing: refused from the
	// header, before any allocation.
	huge := dial(t, s, "huge", dialOpts{localIP: "127.0.0.22"})
	hdr := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	binary.BigEndian.PutUint64(hdr[2:10], 1<<40)
	huge.mu.Lock()
	_, err := huge.conn.UnderlyingConn().Write(hdr)
	huge.mu.Unlock()
	must(t, err)

	for _, c := range []*wsClient{big, huge} {
		select {
		case <-c.closed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s not closed", c.peerID)
		}
		var ce *websocket.CloseError
		if !errors.As(c.closeErr, &ce) || ce.Code != session.CloseTooLarge {
			t.Errorf("%s: %v; want close %d", c.peerID, c.closeErr, session.CloseTooLarge)
		}
	}
	stillServing(t, s, a, b, doc, " after")
	// Exactly at the limit is fine.
	ok := dial(t, s, "at-limit", dialOpts{})
	must(t, ok.send(session.Message{Type: session.TypeEphemeral, SenderID: "at-limit", DocumentID: doc,
		SessionID: "s", Count: 1, Data: make([]byte, limit-200)}))
	must(t, ok.open(doc))
	testwait.Until(t, 10*time.Second, "the at-limit client to load", func() bool { return ok.text(doc) == a.text(doc) })

	_, m := httpGet(t, s.url+"/metrics")
	if got := labeled(m, "weft_refused_total", `reason="message_size"`); got < 2 {
		t.Errorf("weft_refused_total{message_size} = %v, want 2", got)
	}
	if n := strings.Count(s.logs.String(), "audit=limit_message_size"); n < 2 {
		t.Errorf("%d audit lines for oversized messages, want 2", n)
	}
}

// A peer that stops reading while a document is busy is closed with 4001
// once its queue is full; nothing accepted is lost: the other peer, the
// store and the slow peer after reconnecting all have every change.
func TestSlowReaderClosedNothingLost(t *testing.T) {
	s := startServer(t, "", "--send-queue", "8", "--ephemeral-rate", "-1")
	a, b, doc := honestPair(t, s)
	slow := dial(t, s, "slow", dialOpts{localIP: "127.0.0.31"})
	must(t, slow.open(doc))
	testwait.Until(t, 10*time.Second, "the slow peer to load", func() bool { return slow.text(doc) == "x" })

	// From now on the slow peer's read loop blocks on its next sync frame
	// (then drops the frames it reads: it is cut anyway).
	unblock := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(unblock) }) }
	t.Cleanup(release)
	slow.mu.Lock()
	slow.light = func(session.Message) { <-unblock }
	slow.mu.Unlock()

	// Busy: edits, and presence of 256 KiB a time, relayed to every peer,
	// until the server gives up on the slow one (bounded: 64 MiB).
	want := a.text(doc)
	presence := make([]byte, 256<<10)
	cut := func() bool {
		_, m := httpGet(t, s.url+"/metrics")
		return labeled(m, "weft_disconnects_total", fmt.Sprintf(`code="%d"`, session.CloseSlowConsumer)) >= 1
	}
	sent := 0
	for ; sent < 256 && !cut(); sent++ {
		w := fmt.Sprintf(" %d", sent)
		must(t, a.edit(doc, len(want), 0, w))
		want += w
		must(t, a.send(session.Message{Type: session.TypeEphemeral, SenderID: a.peerID, DocumentID: doc,
			SessionID: "presence", Count: uint64(sent + 1), Data: presence}))
	}
	testwait.Until(t, 10*time.Second, "the slow peer to be cut with 4001", cut)
	t.Logf("cut after %d edits and %d MiB of presence", sent, sent/4)

	// Let it read again: it gets its queue and the close, or (if the
	// server's 5 s hard close came first) a dropped connection.
	release()
	select {
	case <-slow.closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the slow peer's connection was not closed")
	}
	var ce *websocket.CloseError
	if errors.As(slow.closeErr, &ce) && ce.Code != session.CloseSlowConsumer {
		t.Errorf("slow peer closed with %d, want %d", ce.Code, session.CloseSlowConsumer)
	}
	t.Logf("slow peer saw: %v", slow.closeErr)

	// With --send-queue 8 for everyone, an honest reader on a busy machine
	// can fall 8 frames behind too: like a real client, it reconnects.
	B := &liveClient{t: t, s: s, doc: doc}
	B.cur.Store(b)
	testwait.Until(t, 20*time.Second, "b to have every edit", func() bool { return B.get().text(doc) == want })
	again := dial(t, s, "slow-again", dialOpts{localIP: "127.0.0.31"})
	must(t, again.open(doc))
	testwait.Until(t, 20*time.Second, "the reconnected peer to have every edit", func() bool { return again.text(doc) == want })
	stillServing(t, s, a, B.get(), doc, "!")
	want += "!"
	must(t, s.stop())
	if got := storedText(t, s, doc); got != want {
		t.Fatalf("stored %q, want %q", got, want)
	}
}

// Sockets that upgrade and never join are closed with 4003 after
// --join-timeout; a peer that does join is unaffected.
func TestSocketsThatNeverJoin(t *testing.T) {
	s := startServer(t, "", "--join-timeout", "300ms")
	a, b, doc := honestPair(t, s)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		conn, _, err := (&websocket.Dialer{HandshakeTimeout: 10 * time.Second}).Dial(s.ws, nil)
		must(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != session.CloseJoinTimeout {
			t.Fatalf("silent socket: %v; want close %d", err, session.CloseJoinTimeout)
		}
	}
	stillServing(t, s, a, b, doc, " joined")
	testwait.Until(t, 10*time.Second, "only the two honest connections left", func() bool {
		_, m := httpGet(t, s.url+"/metrics")
		return metricValue(m, "weft_connections") == 2
	})
}
