package session_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage/testwait"
)

// silence is how long a test waits to show that something does NOT happen.
const silence = 50 * time.Millisecond

func TestJoinPeerReply(t *testing.T) {
	e := newEnv(t, session.Config{})
	if want := "weft-" + e.store.StorageID(); e.m.PeerID() != want {
		t.Fatalf("PeerID = %q, want %q", e.m.PeerID(), want)
	}
	cases := []struct {
		name string
		md   *session.PeerMetadata
	}{
		{"with storage", &session.PeerMetadata{StorageID: "3f9a1c2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b"}},
		{"ephemeral", &session.PeerMetadata{IsEphemeral: true}},
		{"no metadata", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := e.connect("peer-" + tc.name)
			c.join(tc.md)
			// The reply is queued before Receive returns: no storage I/O
			// or document work comes first (PROTOCOL.md §3.7).
			select {
			case f := <-c.conn.frames:
				m, err := session.Decode(f)
				if err != nil {
					t.Fatal(err)
				}
				want := session.Message{
					Type:                    session.TypePeer,
					SenderID:                e.m.PeerID(),
					TargetID:                c.id,
					SelectedProtocolVersion: "1",
					PeerMetadata:            &session.PeerMetadata{StorageID: e.store.StorageID(), IsEphemeral: false},
				}
				if m.Type != want.Type || m.SenderID != want.SenderID || m.TargetID != want.TargetID ||
					m.SelectedProtocolVersion != want.SelectedProtocolVersion ||
					m.PeerMetadata == nil || *m.PeerMetadata != *want.PeerMetadata {
					t.Fatalf("reply %+v (metadata %+v), want %+v", m, m.PeerMetadata, want)
				}
			default:
				t.Fatal("no peer reply queued when Receive(join) returned")
			}
			// A repeated join on the same socket is ignored.
			c.join(tc.md)
			c.expectSilence(silence)
		})
	}
	if got := e.m.Stats(); got.Clients != len(cases) || got.Docs != 0 {
		t.Fatalf("Stats = %+v, want %d clients, 0 docs", got, len(cases))
	}
}

func TestJoinUnsupportedVersion(t *testing.T) {
	e := newEnv(t, session.Config{})
	c := e.connect("peer-v2")
	c.send(session.Message{Type: session.TypeJoin, SenderID: c.id, SupportedProtocolVersions: []string{"2"}})
	m := c.expect(session.TypeError)
	if m.SenderID != e.m.PeerID() || m.TargetID != c.id || m.Message == "" {
		t.Fatalf("error message %+v", m)
	}
	c.expectClose(session.CloseVersion)
	// Later frames are ignored.
	c.send(session.Message{Type: session.TypeRequest, DocumentID: crdt.NewDocumentID(), Data: []byte{0x42, 0, 0, 0, 0}})
	c.expectSilence(silence)
}

func TestJoinWithoutSender(t *testing.T) {
	e := newEnv(t, session.Config{})
	c := e.connect("")
	c.send(session.Message{Type: session.TypeJoin})
	c.expectClose(session.CloseProtocol)
}

func TestInvalidFrameCloses(t *testing.T) {
	cases := []struct {
		name  string
		join  bool
		frame []byte
	}{
		{"garbage before join", false, []byte{0xff, 0x00, 0x13}},
		{"garbage after join", true, []byte("not cbor at all")},
		{"truncated map", true, []byte{0xb9, 0x00, 0x05, 0x64, 't', 'y'}},
		{"map without type", true, []byte{0xa0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			c := e.connect("peer-a")
			if tc.join {
				c.join(nil)
				c.expect(session.TypePeer)
			}
			c.sendRaw(tc.frame)
			if reason := c.expectClose(session.CloseProtocol); reason == "" {
				t.Fatal("close reason is empty")
			}
			testwait.For(t, waitTimeout, "client forgotten", func() error {
				if n := e.m.Stats().Clients; n != 0 {
					return errors.New("client still registered")
				}
				return nil
			})
		})
	}
}

func TestDroppedFrames(t *testing.T) {
	e := newEnv(t, session.Config{})
	doc := crdt.NewDocumentID()
	req, _ := crdttest.NewReplica().GenerateMessage()

	// Before join: nothing is answered, nothing is created.
	c := e.connect("peer-a")
	c.send(session.Message{Type: session.TypeRequest, DocumentID: doc, Data: req})
	c.expectSilence(silence)

	// After join, frames claiming another sender (an echoed ephemeral
	// message, a confused client) are dropped too.
	c.join(nil)
	c.expect(session.TypePeer)
	for _, m := range []session.Message{
		{Type: session.TypeRequest, SenderID: "peer-b", DocumentID: doc, Data: req},
		{Type: session.TypeSync, SenderID: "peer-b", DocumentID: doc, Data: req},
		{Type: session.TypeRequest, SenderID: "", DocumentID: doc, Data: req},
	} {
		c.sendRaw(session.Encode(m))
	}
	c.expectSilence(silence)
	if n := e.m.Stats().Docs; n != 0 {
		t.Fatalf("%d documents opened by dropped frames", n)
	}
	if ok, _ := e.store.Exists(doc); ok {
		t.Fatal("dropped frames wrote to the store")
	}
	// Message types a server ignores get no reply and keep the connection.
	for _, typ := range []string{session.TypeLeave, session.TypeDocUnavailable, session.TypeRemoteHeads, session.TypeRemoteSubChange, "something-new"} {
		c.send(session.Message{Type: typ, DocumentID: doc})
	}
	c.expectSilence(silence)
	if c.isClosed() {
		t.Fatal("ignored message types closed the connection")
	}
	// The connection still works.
	c.send(session.Message{Type: session.TypeRequest, DocumentID: doc, Data: req})
	if m := c.expect(session.TypeDocUnavailable); m.DocumentID != doc {
		t.Fatalf("doc-unavailable for %q, want %q", m.DocumentID, doc)
	}
}

func TestNewestSocketWins(t *testing.T) {
	e := newEnv(t, session.Config{})
	first := newSyncClient(e.join("peer-a"))
	doc := crdt.NewDocumentID()
	first.open(doc, newText(t, "hello"))
	converged(t, doc, "hello", first)

	second := newSyncClient(e.join("peer-a"))
	first.expectClose(session.CloseReplaced)
	if second.isClosed() {
		t.Fatal("the newer connection was closed")
	}
	second.open(doc, crdttest.NewReplica())
	converged(t, doc, "hello", second)
	second.edit(doc, appendText(" again"))

	reader := newSyncClient(e.join("peer-b"))
	reader.open(doc, crdttest.NewReplica())
	converged(t, doc, "hello again", second, reader)
	testwait.For(t, waitTimeout, "replaced client forgotten", func() error {
		if n := e.m.Stats().Clients; n != 2 {
			return errors.New("old connection still counted")
		}
		return nil
	})
}

// TestJoinTimeout runs on synctest's fake clock: the timeout fires when
// every goroutine waits, and "well past it" costs no real time.
func TestJoinTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, session.Config{JoinTimeout: 30 * time.Millisecond})
		idle := e.connect("peer-idle")
		joined := e.connect("peer-joined")
		joined.join(nil)
		joined.expect(session.TypePeer)
		idle.expectClose(session.CloseJoinTimeout)
		time.Sleep(3 * 30 * time.Millisecond) // well past the timeout: the joined one stays
		synctest.Wait()
		if joined.isClosed() {
			code, reason := joined.conn.closeCode()
			t.Fatalf("joined connection closed: %d %s", code, reason)
		}
	})
}

func TestSendFailureClosesSlowConsumer(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, e *env, c *testClient)
	}{
		{"peer reply", func(t *testing.T, e *env, c *testClient) {
			c.conn.failSend.Store(true)
			c.join(nil)
		}},
		{"sync reply", func(t *testing.T, e *env, c *testClient) {
			c.join(nil)
			c.expect(session.TypePeer)
			c.conn.failSend.Store(true)
			req, _ := crdttest.NewReplica().GenerateMessage()
			c.send(session.Message{Type: session.TypeRequest, DocumentID: crdt.NewDocumentID(), Data: req})
		}},
		{"fan-out to another peer", func(t *testing.T, e *env, c *testClient) {
			c.join(nil)
			c.expect(session.TypePeer)
			doc := crdt.NewDocumentID()
			w := newSyncClient(e.join("peer-writer"))
			w.open(doc, newText(t, "x"))
			converged(t, doc, "x", w)
			// c subscribes and catches up, then can no longer receive.
			r := crdttest.NewReplica()
			for i := 0; i < 10; i++ {
				if msg, ok := r.GenerateMessage(); ok {
					typ := session.TypeSync
					if i == 0 {
						typ = session.TypeRequest
					}
					c.send(session.Message{Type: typ, DocumentID: doc, Data: msg})
				}
				m := c.next()
				if m.Type != session.TypeSync {
					t.Fatalf("got %+v", m)
				}
				if err := r.ReceiveMessage(m.Data); err != nil {
					t.Fatal(err)
				}
				if txt, _ := r.Text("text"); txt == "x" {
					break
				}
			}
			c.conn.failSend.Store(true)
			w.edit(doc, appendText("y"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			c := e.connect("peer-slow")
			tc.setup(t, e, c)
			c.expectClose(session.CloseSlowConsumer)
		})
	}
}

func TestSyncValidation(t *testing.T) {
	req, _ := crdttest.NewReplica().GenerateMessage()
	cases := []struct {
		name  string
		msg   session.Message
		close int // 0: ignored, connection stays
	}{
		{"invalid id", session.Message{Type: session.TypeSync, DocumentID: "not-a-valid-id", Data: req}, 0},
		{"bad checksum", session.Message{Type: session.TypeRequest, DocumentID: "4NMNnkMhL8jXrdJ9jamS58PAVdXv", Data: req}, 0},
		{"automerge url", session.Message{Type: session.TypeRequest, DocumentID: "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu", Data: req}, 0},
		{"no id", session.Message{Type: session.TypeSync, Data: req}, 0},
		{"sync without data", session.Message{Type: session.TypeSync, DocumentID: crdt.NewDocumentID()}, session.CloseProtocol},
		{"request without data", session.Message{Type: session.TypeRequest, DocumentID: crdt.NewDocumentID()}, session.CloseProtocol},
		{"undecodable sync message", session.Message{Type: session.TypeSync, DocumentID: crdt.NewDocumentID(), Data: []byte{0x99, 1, 2}}, session.CloseBadSyncMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			c := e.join("peer-a")
			c.send(tc.msg)
			if tc.close == 0 {
				c.expectSilence(silence)
				if c.isClosed() {
					t.Fatal("connection closed")
				}
				if n := e.m.Stats().Docs; n != 0 {
					t.Fatalf("%d documents created", n)
				}
				return
			}
			c.expectClose(tc.close)
			if tc.msg.DocumentID != "" {
				if ok, _ := e.store.Exists(tc.msg.DocumentID); ok {
					t.Fatal("rejected message wrote to the store")
				}
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	e := newEnv(t, session.Config{})
	a := newSyncClient(e.join("peer-a"))
	doc := crdt.NewDocumentID()
	a.open(doc, newText(t, "bye"))
	converged(t, doc, "bye", a)
	b := e.join("peer-b")
	unjoined := e.connect("peer-c")

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := e.m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*testClient{a.testClient, b, unjoined} {
		c.expectClose(session.CloseShutdown)
	}
	if err := e.m.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	conn := newFakeConn()
	if cl, err := e.m.Connect(conn, "192.0.2.9", nil); !errors.Is(err, session.ErrShutdown) || cl != nil {
		t.Fatalf("Connect after Shutdown = %v, %v; want ErrShutdown", cl, err)
	}
	if code, _ := conn.closeCode(); code != session.CloseShutdown {
		t.Fatalf("refused connection closed with %d, want %d", code, session.CloseShutdown)
	}
	// What was synced is durable.
	if r := storedReplica(t, e.store, doc); r == nil || !r.Heads().Equal(a.heads(doc)) {
		t.Fatal("store does not hold the document's heads after Shutdown")
	}
}
