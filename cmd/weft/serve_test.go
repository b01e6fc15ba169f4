package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	editorweb "github.com/weft-dev/weft/editor-web"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/testwait"
)

func TestHealthReadyMetricsAndUpgradeOnAnyPath(t *testing.T) {
	s := startServer(t, "")
	for _, p := range []string{"/healthz", "/readyz", "/metrics", "/status"} {
		if code, body := httpGet(t, s.url+p); code != http.StatusOK {
			t.Errorf("GET %s = %d %s", p, code, body)
		}
	}
	if code, body := httpGet(t, s.url+"/api/no/such/thing"); code != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("unknown API path: %d %s", code, body)
	}
	// The editor (or, in a binary built without it, a clear 503 page).
	code, body := httpGet(t, s.url+"/d/"+crdt.NewDocumentID())
	if editorweb.Built() {
		if code != http.StatusOK || !strings.Contains(body, "<html") {
			t.Errorf("editor route: %d %.200s", code, body)
		}
	} else if code != http.StatusServiceUnavailable || !strings.Contains(body, "make ui") {
		t.Errorf("editor not built: %d %.200s", code, body)
	}
	a := dial(t, s, "peer-a", dialOpts{path: "/some/deep/path"})
	doc := crdt.NewDocumentID()
	if err := a.edit(doc, 0, 0, "hi"); err != nil {
		t.Fatal(err)
	}
	b := dial(t, s, "peer-b", dialOpts{path: "/sync"})
	if err := b.open(doc); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "b to see a's text", func() bool { return b.text(doc) == "hi" })
	_, m := httpGet(t, s.url+"/metrics")
	for _, name := range []string{"weft_fanout_seconds_count", "weft_storage_commit_seconds_count", "weft_storage_batch_writes_count",
		"weft_apply_seconds_count", "weft_changes_applied_total", "weft_storage_commits_total", "weft_open_documents"} {
		if metricValue(m, name) <= 0 {
			t.Errorf("metric %s not positive", name)
		}
	}
	if got := metricValue(m, "weft_connections"); got != 2 {
		t.Errorf("weft_connections = %v, want 2", got)
	}
}

func TestFlagsAndDataDirectoryLock(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"serve", "--log-format", "xml"}, &out, &errb); err == nil {
		t.Fatal("bad --log-format accepted")
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errb); err == nil {
		t.Fatal("unknown command accepted")
	}
	s := startServer(t, "")
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", s.data}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "another weft") {
		t.Fatalf("second server on the same data directory: %v", err)
	}
}

// Shutdown flushes everything: a restarted server has every edit.
func TestShutdownAndRestartKeepEdits(t *testing.T) {
	s := startServer(t, "")
	a := dial(t, s, "peer-a", dialOpts{})
	doc := crdt.NewDocumentID()
	want := ""
	for i := 0; i < 50; i++ {
		w := fmt.Sprintf("w%d ", i)
		if err := a.edit(doc, len(want), 0, w); err != nil {
			t.Fatal(err)
		}
		want += w
	}
	b := dial(t, s, "peer-b", dialOpts{})
	b.open(doc)
	testwait.Until(t, 10*time.Second, "b to converge", func() bool { return b.text(doc) == want })
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("client not closed at shutdown")
	}
	if !strings.Contains(fmt.Sprint(a.closeErr), fmt.Sprint(session.CloseShutdown)) {
		t.Errorf("close error %v, want code %d", a.closeErr, session.CloseShutdown)
	}
	s2 := startServer(t, s.data)
	c := dial(t, s2, "peer-c", dialOpts{})
	c.open(doc)
	testwait.Until(t, 10*time.Second, "c to load the document after restart", func() bool { return c.text(doc) == want })
}

// A few thousand mutated sync messages into a running server while two
// clients edit another document on the same worker: the server keeps
// answering, the other document keeps syncing, nothing accepted is lost.
func TestStressMutatedSyncMessages(t *testing.T) { stressMutatedSyncMessages(t, false) }

// The same with --auth jwt and real tokens: most attackers hold write
// tokens (a quarter read ones), an honest read peer must see every edit,
// and a rogue read peer keeps editing; none of its changes land anywhere.
func TestStressMutatedSyncMessagesWithAuth(t *testing.T) { stressMutatedSyncMessages(t, true) }

func stressMutatedSyncMessages(t *testing.T, withAuth bool) {
	if testing.Short() {
		t.Skip("stress test")
	}
	args := []string{"--workers", "1"}
	as := func(sub, role string) dialOpts { return dialOpts{} }
	if withAuth {
		k := newKeys(t)
		args = append(args, "--auth", "jwt", "--jwt-secret-file", k.SecretFile)
		as = func(sub, role string) dialOpts {
			return dialOpts{path: "/?token=" + hsToken(t, sub, map[string]string{"*": role})}
		}
	}
	s := startServer(t, "", args...)
	doc := crdt.NewDocumentID()
	a := dial(t, s, "peer-a", as("a", "write"))
	b := dial(t, s, "peer-b", as("b", "write"))
	if err := a.edit(doc, 0, 0, "start"); err != nil {
		t.Fatal(err)
	}
	b.open(doc)
	testwait.Until(t, 5*time.Second, "b to see the start", func() bool { return b.text(doc) == "start" })
	// With auth: an honest reader, which must see everything, and a rogue
	// one, which keeps editing and must change nothing.
	var reader, rogue *wsClient
	if withAuth {
		reader = dial(t, s, "peer-r", as("r", "read"))
		rogue = dial(t, s, "peer-rogue", as("rogue", "read"))
		for _, c := range []*wsClient{reader, rogue} {
			must(t, c.open(doc))
			testwait.Until(t, 5*time.Second, c.peerID+" to see the start", func() bool { return c.text(doc) == "start" })
		}
	}

	// A seed message with a change in it, to mutate.
	seed := crdttest.NewReplica()
	seed.SpliceText("text", 0, 0, "the quick brown fox jumps over the lazy dog")
	seedMsg, _ := seed.GenerateMessage()
	if n, _ := crdt.MessageChanges(seedMsg); n == 0 {
		// A fresh sync state first sends only heads; build one with changes.
		r := crdttest.NewReplica()
		s2 := crdttest.NewReplica()
		s2.SpliceText("text", 0, 0, "the quick brown fox")
		m1, _ := s2.GenerateMessage()
		r.ReceiveMessage(m1)
		m2, _ := r.GenerateMessage()
		s2.ReceiveMessage(m2)
		seedMsg, _ = s2.GenerateMessage()
	}
	if n, _ := crdt.MessageChanges(seedMsg); n == 0 {
		t.Fatal("seed message carries no change")
	}

	// Honest peers behave like real clients: when the server closes them
	// (an engine that keeps failing under the attack asks innocent peers
	// to reconnect), they reconnect and sync their local copy afresh.
	// Only what the writer typed must land, and all of it.
	A := &liveClient{t: t, s: s, doc: doc, opts: as("a", "write")}
	A.cur.Store(a)
	B := &liveClient{t: t, s: s, doc: doc, opts: as("b", "write")}
	B.cur.Store(b)
	var R *liveClient
	if reader != nil {
		R = &liveClient{t: t, s: s, doc: doc, opts: as("r", "read")}
		R.cur.Store(reader)
	}
	var stopEdits atomic.Bool
	editsDone := make(chan struct{})
	go func() {
		defer close(editsDone)
		for i := 0; !stopEdits.Load(); i++ {
			c := A.get()
			c.edit(doc, len(c.text(doc)), 0, fmt.Sprintf(" %d", i))
			if rogue != nil && i%10 == 0 {
				rogue.edit(doc, 0, 0, "R") // refused: it must never land
			}
			// Not synchronization: the writer types at a steady pace through the attack.
			time.Sleep(2 * time.Millisecond)
		}
	}()

	rng := rand.New(rand.NewPCG(7, 11))
	const total = 3000
	sent, conns := 0, 0
	for sent < total {
		// Each attacker connection comes from its own loopback address, so
		// bans do not touch the honest clients on 127.0.0.1.
		ip := fmt.Sprintf("127.0.%d.%d", 1+conns/250, 2+conns%250)
		conns++
		role := "write"
		if conns%4 == 0 {
			role = "read" // most attackers write: only their messages reach the engine
		}
		o := as(fmt.Sprintf("evil-%d", conns), role)
		o.localIP = ip
		// A read attacker's changes are refused without a close: give it
		// a share, then the next connection.
		last := total
		if withAuth && role == "read" {
			last = min(total, sent+10)
		}
		evil, err := tryDial(s, fmt.Sprintf("evil-%d", conns), o)
		if err != nil {
			continue // refused while banned, or a worker restart in progress
		}
		replied := make(chan struct{}, 1)
		evil.mu.Lock()
		evil.onSync = func(string, []byte) {
			select {
			case replied <- struct{}{}:
			default:
			}
		}
		evil.mu.Unlock()
		target := crdt.NewDocumentID()
	attack:
		for sent < last {
			msg := crdttest.MutateSyncMessage(rng, seedMsg)
			sent++
			if evil.send(session.Message{Type: session.TypeSync, SenderID: evil.peerID, DocumentID: target, Data: msg}) != nil {
				break
			}
			// One message at a time: wait for the answer or the close.
			select {
			case <-replied:
			case <-evil.got: // an error (read-only) or doc-unavailable
			case <-evil.closed:
				break attack
			case <-time.After(2 * time.Second):
				break attack
			}
		}
		evil.conn.Close()
		if code, _ := httpGet(t, s.url+"/healthz"); code != http.StatusOK {
			t.Fatalf("healthz %d after %d messages", code, sent)
		}
	}
	stopEdits.Store(true)
	<-editsDone
	a = A.get()
	want := a.text(doc)
	if strings.Contains(want, "R") {
		t.Fatal("the rogue reader's refused edits reached the writer")
	}
	testwait.Until(t, 60*time.Second, "b to converge with a after the attack", func() bool {
		A.nudge()
		return B.get().text(doc) == want
	})
	if R != nil {
		// The reader has everything a wrote.
		testwait.Until(t, 60*time.Second, "the reader to have a's heads", func() bool {
			return R.get().heads(doc).Equal(A.get().heads(doc))
		})
	}
	a = A.get()

	_, metrics := httpGet(t, s.url+"/metrics")
	restarts := metricValue(metrics, "weft_worker_restarts_total")
	t.Logf("%d mutated messages over %d connections; worker restarts: %v", sent, conns, restarts)
	if restarts == 0 {
		t.Fatal("no worker crashed: the isolation path was not exercised")
	}
	// Nothing accepted was lost: the store has a's final heads.
	heads := a.heads(doc)
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(filepath.Join(s.data, "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ch, err := st.Load(doc)
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for _, c := range append(ch.Snapshots, ch.Incrementals...) {
		all = append(all, c...)
	}
	r, err := crdttest.LoadReplica(all)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range heads {
		if !r.Has(h) {
			t.Fatalf("stored document lacks a's head %s", h)
		}
	}
	if got, _ := r.Text("text"); got != want {
		t.Fatalf("stored text %q, want %q", got, want)
	}
}

func metricValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	return 0
}

// liveClient is a test peer that reconnects, as real clients do, when the
// server closes it, keeping its local replicas and syncing them afresh.
type liveClient struct {
	t      testing.TB
	s      *server
	doc    string
	opts   dialOpts
	cur    atomic.Pointer[wsClient]
	nudged time.Time // owned by the test goroutine (nudge)
}

// get returns the current connection, reconnecting first if it closed.
func (l *liveClient) get() *wsClient {
	old := l.cur.Load()
	select {
	case <-old.closed:
	default:
		return old
	}
	for {
		c, err := tryDial(l.s, old.peerID, l.opts)
		if err != nil {
			// Not synchronization: a real client's back-off between reconnect
			// attempts (the server may be refusing it for a while); it waits
			// for no particular event, and get runs off the test goroutine.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l.t.Cleanup(func() { c.conn.Close() })
		c.mu.Lock()
		c.docs = old.docs // old's read loop has ended: the replicas are free
		for _, r := range c.docs {
			r.ResetSync()
		}
		c.flush(l.doc, session.TypeSync)
		c.mu.Unlock()
		l.cur.Store(c)
		return c
	}
}

// nudge restarts the writer's sync now and then: an automerge-rs 0.5.0
// client can sit on a local change it believes in flight (PROTOCOL.md
// §10.1); the cores real clients run do not.
func (l *liveClient) nudge() {
	if time.Since(l.nudged) < 500*time.Millisecond {
		return
	}
	l.nudged = time.Now()
	c := l.get()
	c.mu.Lock()
	if r := c.docs[l.doc]; r != nil {
		r.ResetSync()
		c.flush(l.doc, session.TypeSync)
	}
	c.mu.Unlock()
}
