package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"go.uber.org/goleak"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"

	"github.com/weft-dev/weft/storage/jsstore/jstest"
	"github.com/weft-dev/weft/storage/testwait"
)

// poolWatchdog is crdt.Pool.Shutdown's timer that kills a worker still
// running 5s after Shutdown: it exits on its own (session's and crdt's TestMain
// have the same exception).
var poolWatchdog = goleak.IgnoreAnyFunction("github.com/weft-dev/weft/crdt.(*Pool).Shutdown.func1")

func TestMain(m *testing.M) {
	crdt.MaybeRunWorker() // the Pool's workers re-execute this test binary
	goleak.VerifyTestMain(m, append(jstest.IgnoreLeaks, poolWatchdog)...)
}

// server is a weft node running in this process on loopback.
type server struct {
	url  string // http://127.0.0.1:port
	ws   string // ws://127.0.0.1:port/
	data string
	stop func() error
	logs *testwait.Log
}

// startServer runs "weft serve" with args on a free port; data "" means a
// new temporary directory.
func startServer(t testing.TB, data string, args ...string) *server {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	pr, pw := io.Pipe()
	logs := &testwait.Log{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data, "--log-level", "debug"}, args...)
	go func() {
		done <- run(ctx, all, pw, logs)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("server did not start: %v (%v)\n%s", err, <-done, logs.String())
	}
	go io.Copy(io.Discard, pr)
	url := strings.TrimSpace(strings.TrimPrefix(line, "weft: listening on "))
	s := &server{url: url, ws: "ws" + strings.TrimPrefix(url, "http") + "/", data: data, logs: logs}
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = errors.New("server did not stop within 30s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stopping server: %v", err)
		}
		if t.Failed() {
			t.Logf("server log (tail):\n%s", tail(logs.String(), 4000))
			if dir := os.Getenv("WEFT_TEST_LOGS"); dir != "" {
				name := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_")+"-"+strings.TrimPrefix(url, "http://127.0.0.1:")+".log")
				os.WriteFile(name, []byte(logs.String()), 0o644)
				t.Logf("full server log: %s", name)
			}
		}
	})
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// wsClient speaks the automerge-repo protocol with one Replica per
// document, answering every sync message like a real Repo does.
type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	peerID string

	mu       sync.Mutex
	docs     map[string]*crdttest.Replica
	theirs   map[string]crdt.Heads        // heads the server last advertised, per document
	onSync   func(doc string, msg []byte) // optional, called under mu
	light    func(m session.Message)      // optional: replaces replica handling
	got      chan session.Message         // non-sync frames
	closed   chan struct{}
	closeErr error
}

type dialOpts struct {
	localIP string // source address on loopback (127.0.0.x)
	path    string // may carry a query (?token=...)
	header  http.Header
	tls     *tls.Config // for wss
}

func dial(t testing.TB, s *server, peerID string, o dialOpts) *wsClient {
	t.Helper()
	c, err := tryDial(s, peerID, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

func tryDial(s *server, peerID string, o dialOpts) (*wsClient, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, TLSClientConfig: o.tls}
	if o.localIP != "" {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(o.localIP)}}
		d.NetDialContext = nd.DialContext
	}
	conn, _, err := d.Dial(s.ws+strings.TrimPrefix(o.path, "/"), o.header)
	if err != nil {
		return nil, err
	}
	c := &wsClient{conn: conn, peerID: peerID, docs: map[string]*crdttest.Replica{}, theirs: map[string]crdt.Heads{},
		got: make(chan session.Message, 1024), closed: make(chan struct{})}
	if err := c.send(session.Message{Type: session.TypeJoin, SenderID: peerID,
		PeerMetadata: &session.PeerMetadata{IsEphemeral: true}, SupportedProtocolVersions: []string{"1"}}); err != nil {
		return nil, err
	}
	_, frame, err := conn.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("reading peer: %w", err)
	}
	if m, err := session.Decode(frame); err != nil || m.Type != session.TypePeer {
		return nil, fmt.Errorf("expected peer, got %+v %v", m, err)
	}
	go c.readLoop()
	return c, nil
}

func (c *wsClient) send(m session.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.WriteMessage(websocket.BinaryMessage, session.Encode(m))
}

func (c *wsClient) sendRaw(b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.WriteMessage(websocket.BinaryMessage, b)
}

func (c *wsClient) readLoop() {
	defer close(c.closed)
	for {
		_, frame, err := c.conn.ReadMessage()
		if err != nil {
			c.closeErr = err
			return
		}
		m, err := session.Decode(frame)
		if err != nil {
			continue
		}
		if m.Type != session.TypeSync {
			select {
			case c.got <- m:
			default:
			}
			continue
		}
		c.mu.Lock()
		if c.light != nil {
			c.light(m)
			c.mu.Unlock()
			continue
		}
		r := c.docs[m.DocumentID]
		if r == nil {
			r = crdttest.NewReplica()
			c.docs[m.DocumentID] = r
		}
		if hs, err := crdt.MessageHeads(m.Data); err == nil {
			slices.SortFunc(hs, func(a, b crdt.Hash) int { return bytes.Compare(a[:], b[:]) })
			c.theirs[m.DocumentID] = hs
		}
		if err := r.ReceiveMessage(m.Data); err == nil {
			if c.onSync != nil {
				c.onSync(m.DocumentID, m.Data)
			}
			if reply, ok := r.Reply(); ok {
				c.conn.WriteMessage(websocket.BinaryMessage, session.Encode(session.Message{
					Type: session.TypeSync, SenderID: c.peerID, TargetID: m.SenderID, DocumentID: m.DocumentID, Data: reply}))
			}
		}
		c.mu.Unlock()
	}
}

// edit splices text into a document and syncs it to the server.
func (c *wsClient) edit(doc string, pos, del int, s string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.docs[doc]
	if r == nil {
		r = crdttest.NewReplica()
		c.docs[doc] = r
	}
	if err := r.SpliceText("text", pos, del, s); err != nil {
		return err
	}
	return c.flush(doc, session.TypeSync)
}

// open asks the server for a document (a "request", as repo.find does).
func (c *wsClient) open(doc string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.docs[doc] == nil {
		c.docs[doc] = crdttest.NewReplica()
	}
	return c.flush(doc, session.TypeRequest)
}

func (c *wsClient) flush(doc, typ string) error {
	r := c.docs[doc]
	msg, ok := r.GenerateMessage()
	if !ok && typ == session.TypeSync {
		// A local edit that automerge-rs 0.5.0 will not send: its in_flight
		// bug (PROTOCOL.md §10.1, fixed in the cores real clients run)
		// after the server restarted our sync state. Do what the fixed
		// core does: forget what was in flight and sync afresh.
		r.ResetSync()
		msg, ok = r.GenerateMessage()
	}
	if !ok {
		return nil
	}
	return c.conn.WriteMessage(websocket.BinaryMessage, session.Encode(session.Message{
		Type: typ, SenderID: c.peerID, DocumentID: doc, Data: msg}))
}

func (c *wsClient) text(doc string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.docs[doc]
	if r == nil {
		return ""
	}
	s, _ := r.Text("text")
	return s
}

func (c *wsClient) heads(doc string) crdt.Heads {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.docs[doc]; r != nil {
		return r.Heads()
	}
	return nil
}

// acked reports whether the server has advertised this client's heads of
// doc: persist before send, so it holds them durably.
func (c *wsClient) acked(doc string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.docs[doc]
	return r != nil && len(r.Heads()) > 0 && r.Heads().Equal(c.theirs[doc])
}

func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
