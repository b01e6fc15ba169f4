package session_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
	"github.com/weft-dev/weft/storage/testwait"
)

func TestMain(m *testing.M) {
	crdt.MaybeRunWorker() // the crash tests' Pool re-executes this binary as its workers
	// crdt.Pool.Shutdown leaves a goroutine per worker that kills the
	// process after 5s if it is stuck; it exits on its own.
	goleak.VerifyTestMain(m, append(jstest.IgnoreLeaks, goleak.IgnoreAnyFunction("github.com/weft-dev/weft/crdt.(*Pool).Shutdown.func1"))...)
}

// waitTimeout bounds every wait (testwait.For).
const waitTimeout = 10 * time.Second

// ---- environment: a real store and engine under a Manager ----

type env struct {
	t     testing.TB
	path  string
	store *storage.Store
	m     *session.Manager
}

// newEnv opens a bbolt store in t.TempDir() and a Manager over it, or a
// Manager over cfg.Store if set (the caller closes that store). A nil
// cfg.Engine means crdt.NewLocal(nil). Cleanup shuts the Manager down and
// checks a bbolt store's consistency before closing it.
func newEnv(t testing.TB, cfg session.Config) *env {
	t.Helper()
	if cfg.Store != nil { // the caller's (a shared one): it closes it
		return startEnv(t, cfg, "", nil)
	}
	path := filepath.Join(t.TempDir(), "weft.db")
	st, err := storage.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Check(); err != nil && !errors.Is(err, storage.ErrClosed) {
			t.Errorf("store check: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	cfg.Store = st
	return startEnv(t, cfg, path, st)
}

// startEnv starts a Manager over cfg.Store; st is that store when it is a
// bbolt one.
func startEnv(t testing.TB, cfg session.Config, path string, st *storage.Store) *env {
	t.Helper()
	if cfg.Logger == nil && testing.Verbose() {
		w := &tWriter{t: t}
		t.Cleanup(w.stop) // registered before the Manager's cleanup: runs after it
		cfg.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Engine == nil {
		cfg.Engine = crdt.NewLocal(nil)
	}
	m, err := session.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("manager shutdown: %v", err)
		}
	})
	return &env{t: t, path: path, store: st, m: m}
}

// tWriter sends log lines to t.Log until the test's cleanup stops it.
type tWriter struct {
	t       testing.TB
	mu      sync.Mutex
	stopped bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tWriter) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
}

// shutdown stops the Manager (waiting for every document goroutine).
func (e *env) shutdown() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.m.Shutdown(ctx); err != nil {
		e.t.Fatalf("shutdown: %v", err)
	}
}

// storedReplica loads everything the store holds for doc, as a replica
// (nil if the store has nothing).
func storedReplica(t testing.TB, st *storage.Store, doc string) *crdttest.Replica {
	t.Helper()
	r, err := loadStored(st, doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func loadStored(st *storage.Store, doc string) (*crdttest.Replica, error) {
	chunks, err := st.Load(doc)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var all []byte
	for _, c := range chunks.Snapshots {
		all = append(all, c...)
	}
	for _, c := range chunks.Incrementals {
		all = append(all, c...)
	}
	return crdttest.LoadReplica(all)
}

// ---- fake transport ----

var errQueueFull = errors.New("fake: send queue full")

// fakeConn implements session.Conn. It records the frames the server sends
// and the close code; it can fail Send to simulate a full queue.
type fakeConn struct {
	frames   chan []byte
	gone     chan struct{} // closed by Close or hangup
	once     sync.Once
	mu       sync.Mutex
	code     int // 0 until the server closes
	reason   string
	failSend atomic.Bool
	// check, if set, runs synchronously inside Send for every frame.
	check   func(frame []byte)
	onClose func() // the transport noticing the close: calls Client.Closed
}

func newFakeConn() *fakeConn {
	return &fakeConn{frames: make(chan []byte, 1<<14), gone: make(chan struct{})}
}

func (c *fakeConn) Send(frame []byte) error {
	select {
	case <-c.gone:
		return errors.New("fake: connection closed")
	default:
	}
	if c.failSend.Load() {
		return errQueueFull
	}
	if c.check != nil {
		c.check(frame)
	}
	select {
	case c.frames <- bytes.Clone(frame):
		return nil
	default:
		return errQueueFull
	}
}

func (c *fakeConn) Close(code int, reason string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.code, c.reason = code, reason
		c.mu.Unlock()
		close(c.gone)
		if c.onClose != nil {
			go c.onClose() // the read goroutine notices the closed socket
		}
	})
}

func (c *fakeConn) closeCode() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code, c.reason
}

// ---- a client connection driven by the test ----

// testClient is one connection. Its Receive and Closed calls are
// serialized by mu, standing in for the transport's read goroutine.
type testClient struct {
	t    testing.TB
	e    *env
	id   string // peer id
	conn *fakeConn
	cl   *session.Client

	mu   sync.Mutex
	gone bool
}

// connect opens a connection without joining.
func (e *env) connect(id string) *testClient {
	e.t.Helper()
	return e.connectFrom(id, "192.0.2.1", newFakeConn())
}

func (e *env) connectFrom(id, remote string, conn *fakeConn) *testClient {
	e.t.Helper()
	c := &testClient{t: e.t, e: e, id: id, conn: conn}
	conn.onClose = c.closed
	// mu orders the Client's creation before the transport's calls, as a
	// real transport's own locking does.
	c.mu.Lock()
	cl, err := e.m.Connect(conn, remote, nil)
	c.cl = cl
	c.mu.Unlock()
	if err != nil {
		e.t.Fatalf("connect %s: %v", id, err)
	}
	e.t.Cleanup(c.hangup)
	return c
}

// join connects and joins as a peer with durable storage, consuming the
// peer reply.
func (e *env) join(id string) *testClient {
	e.t.Helper()
	c := e.connect(id)
	c.join(&session.PeerMetadata{StorageID: "storage-" + id})
	c.expect(session.TypePeer)
	return c
}

func (c *testClient) join(md *session.PeerMetadata) {
	c.send(session.Message{Type: session.TypeJoin, SenderID: c.id, PeerMetadata: md,
		SupportedProtocolVersions: []string{session.ProtocolVersion}})
}

func (c *testClient) send(m session.Message) {
	if m.SenderID == "" && m.Type != session.TypeJoin {
		m.SenderID = c.id
	}
	c.sendRaw(session.Encode(m))
}

func (c *testClient) sendRaw(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		c.cl.Receive(frame)
	}
}

// closed is the transport reporting the connection gone.
func (c *testClient) closed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.gone {
		c.gone = true
		c.cl.Closed()
	}
}

// hangup is the client going away.
func (c *testClient) hangup() {
	c.conn.once.Do(func() { close(c.conn.gone) })
	c.closed()
}

// next returns the next frame the server sent, failing after waitTimeout.
func (c *testClient) next() session.Message {
	c.t.Helper()
	select {
	case f := <-c.conn.frames:
		m, err := session.Decode(f)
		if err != nil {
			c.t.Fatalf("%s: server sent an undecodable frame %x: %v", c.id, f, err)
		}
		return m
	case <-time.After(waitTimeout):
		c.t.Fatalf("%s: no frame from the server after %s", c.id, waitTimeout)
		return session.Message{}
	}
}

// expect returns the next frame, which must have type typ.
func (c *testClient) expect(typ string) session.Message {
	c.t.Helper()
	m := c.next()
	if m.Type != typ {
		c.t.Fatalf("%s: got %q frame %+v, want %q", c.id, m.Type, m, typ)
	}
	return m
}

// expectSilence asserts that no frame arrives within d.
func (c *testClient) expectSilence(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.conn.frames:
		m, _ := session.Decode(f)
		c.t.Fatalf("%s: unexpected frame %+v", c.id, m)
	case <-time.After(d):
	}
}

// expectClose waits for the server to close the connection with code.
func (c *testClient) expectClose(code int) string {
	c.t.Helper()
	select {
	case <-c.conn.gone:
	case <-time.After(waitTimeout):
		c.t.Fatalf("%s: not closed after %s (want close %d)", c.id, waitTimeout, code)
	}
	got, reason := c.conn.closeCode()
	if got != code {
		c.t.Fatalf("%s: closed with %d %q, want %d", c.id, got, reason, code)
	}
	return reason
}

func (c *testClient) isClosed() bool {
	select {
	case <-c.conn.gone:
		return true
	default:
		return false
	}
}

// ---- a client holding replicas that sync through the server ----

// syncClient answers the server's sync messages from its replicas on its
// own goroutine, like an automerge-repo client. Frames other than sync
// for a known document go to other.
type syncClient struct {
	*testClient
	mu    sync.Mutex // guards docs and the replicas; held across generate+send to keep order
	docs  map[string]*crdttest.Replica
	acked map[string]crdt.Heads         // heads the server last advertised, per document
	ever  map[string]map[crdt.Hash]bool // every head the server ever advertised
	other chan session.Message
	stop  chan struct{}
	done  chan struct{}
}

func newSyncClient(c *testClient) *syncClient {
	s := &syncClient{testClient: c, docs: map[string]*crdttest.Replica{}, acked: map[string]crdt.Heads{}, ever: map[string]map[crdt.Hash]bool{},
		other: make(chan session.Message, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	go s.pump()
	c.t.Cleanup(func() {
		close(s.stop)
		<-s.done
	})
	return s
}

func (s *syncClient) pump() {
	defer close(s.done)
	for {
		select {
		case <-s.stop:
			return
		case f := <-s.conn.frames:
			m, err := session.Decode(f)
			if err != nil {
				s.t.Errorf("%s: undecodable frame: %v", s.id, err)
				continue
			}
			if m.Type == session.TypeSync && s.receive(m) {
				continue
			}
			select {
			case s.other <- m:
			default:
				s.t.Errorf("%s: too many unexpected frames", s.id)
			}
		}
	}
}

// receive applies a server sync message and answers it.
func (s *syncClient) receive(m session.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.docs[m.DocumentID]
	if r == nil {
		return false
	}
	if err := r.ReceiveMessage(m.Data); err != nil {
		s.t.Errorf("%s: applying server sync message: %v", s.id, err)
		return true
	}
	if hs, err := crdt.MessageHeads(m.Data); err == nil {
		s.acked[m.DocumentID] = hs
		if s.ever[m.DocumentID] == nil {
			s.ever[m.DocumentID] = map[crdt.Hash]bool{}
		}
		for _, h := range hs {
			s.ever[m.DocumentID][h] = true
		}
	}
	s.flushLocked(session.TypeSync, m.DocumentID)
	return true
}

// open starts syncing doc from r: sync if r has content, else request.
func (s *syncClient) open(doc string, r *crdttest.Replica) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[doc] = r
	typ := session.TypeSync
	if len(r.Heads()) == 0 {
		typ = session.TypeRequest
	}
	s.flushLocked(typ, doc)
}

// edit changes doc's replica and sends what the sync state says to send.
func (s *syncClient) edit(doc string, fn func(r *crdttest.Replica) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := fn(s.docs[doc]); err != nil {
		s.t.Errorf("%s: edit: %v", s.id, err)
		return
	}
	s.flushLocked(session.TypeSync, doc)
}

func (s *syncClient) flushLocked(typ, doc string) {
	if msg, ok := s.docs[doc].GenerateMessage(); ok {
		s.send(session.Message{Type: typ, DocumentID: doc, Data: msg})
	}
}

func (s *syncClient) text(doc string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	txt, err := s.docs[doc].Text("text")
	if err != nil {
		s.t.Errorf("%s: text: %v", s.id, err)
	}
	return txt
}

func (s *syncClient) heads(doc string) crdt.Heads {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.docs[doc].Heads()
}

func (s *syncClient) ackedHeads(doc string) crdt.Heads {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(crdt.Heads(nil), s.acked[doc]...)
}

func (s *syncClient) everAcked(doc string) []crdt.Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []crdt.Hash
	for h := range s.ever[doc] {
		out = append(out, h)
	}
	return out
}

// nextOther returns the next frame that was not a sync for a known document.
func (s *syncClient) nextOther() session.Message {
	s.t.Helper()
	select {
	case m := <-s.other:
		return m
	case <-time.After(waitTimeout):
		s.t.Fatalf("%s: no frame after %s", s.id, waitTimeout)
		return session.Message{}
	}
}

// newText returns a replica whose "text" holds txt.
func newText(t testing.TB, txt string) *crdttest.Replica {
	t.Helper()
	r := crdttest.NewReplica()
	if err := r.SpliceText("text", 0, 0, txt); err != nil {
		t.Fatal(err)
	}
	return r
}

func appendText(txt string) func(r *crdttest.Replica) error {
	return func(r *crdttest.Replica) error {
		cur, err := r.Text("text")
		if err != nil {
			return err
		}
		return r.SpliceText("text", len([]rune(cur)), 0, txt)
	}
}

// converged waits until every client's replica of doc holds want, with
// the same heads, and the server has advertised those heads to each (so
// it holds them durably).
func converged(t testing.TB, doc, want string, cs ...*syncClient) {
	t.Helper()
	testwait.For(t, waitTimeout, "convergence on "+doc, func() error {
		var first crdt.Heads
		for i, c := range cs {
			if got := c.text(doc); got != want {
				return fmt.Errorf("%s has %q, want %q", c.id, got, want)
			}
			hs := c.heads(doc)
			if acked := c.ackedHeads(doc); !acked.Equal(hs) {
				return fmt.Errorf("%s has heads %v, the server acknowledged %v", c.id, hs, acked)
			}
			if i == 0 {
				first = hs
			} else if !hs.Equal(first) {
				return fmt.Errorf("%s heads %v differ from %s heads %v", c.id, hs, cs[0].id, first)
			}
		}
		return nil
	})
}
