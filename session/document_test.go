package session_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/testwait"
)

func TestTwoReplicasConverge(t *testing.T) {
	e := newEnv(t, session.Config{})
	doc := crdt.NewDocumentID()
	a := newSyncClient(e.join("peer-a"))
	b := newSyncClient(e.join("peer-b"))

	a.open(doc, newText(t, "hello"))
	b.open(doc, crdttest.NewReplica()) // a request: B lacks the document
	converged(t, doc, "hello", a, b)

	a.edit(doc, appendText(" world"))
	converged(t, doc, "hello world", a, b)
	b.edit(doc, appendText("!"))
	converged(t, doc, "hello world!", a, b)
	// Concurrent edits on both sides merge.
	a.edit(doc, func(r *crdttest.Replica) error { return r.SpliceText("text", 0, 0, ">") })
	b.edit(doc, appendText("<"))
	testwait.For(t, waitTimeout, "merge", func() error {
		ta, tb := a.text(doc), b.text(doc)
		if ta != tb || ta != ">hello world!<" || !a.heads(doc).Equal(b.heads(doc)) {
			return fmt.Errorf("a %q, b %q", ta, tb)
		}
		return nil
	})
	want := a.heads(doc)

	e.shutdown()
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := storage.Open(e.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := storedReplica(t, st, doc)
	if r == nil {
		t.Fatal("nothing stored")
	}
	if !r.Heads().Equal(want) {
		t.Fatalf("stored heads %v, want %v", r.Heads(), want)
	}
	if txt, _ := r.Text("text"); txt != ">hello world!<" {
		t.Fatalf("stored text %q", txt)
	}
}

// persistChecker fails any sync frame advertising a head the store lacks.
type persistChecker struct {
	t     *testing.T
	st    *storage.Store
	mu    sync.Mutex
	syncs int
	bad   []string
}

func (p *persistChecker) check(frame []byte) {
	m, err := session.Decode(frame)
	if err != nil || m.Type != session.TypeSync {
		return
	}
	hs, err := crdt.MessageHeads(m.Data)
	if err != nil {
		p.fail("unparsable sync message: %v", err)
		return
	}
	var stored *crdttest.Replica
	if len(hs) > 0 {
		stored, err = loadStored(p.st, m.DocumentID)
		if err != nil {
			p.fail("loading the store: %v", err)
			return
		}
	}
	p.mu.Lock()
	p.syncs++
	p.mu.Unlock()
	for _, h := range hs {
		if stored == nil || !stored.Has(h) {
			p.fail("sync to %s advertises head %s before it is stored", m.TargetID, h)
		}
	}
}

func (p *persistChecker) fail(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bad) < 10 {
		p.bad = append(p.bad, fmt.Sprintf(format, args...))
	}
}

func TestPersistBeforeSend(t *testing.T) {
	e := newEnv(t, session.Config{})
	pc := &persistChecker{t: t, st: e.store}
	join := func(id string) *syncClient {
		conn := newFakeConn()
		conn.check = pc.check // runs on the document goroutine, inside Send
		c := e.connectFrom(id, "192.0.2.1", conn)
		c.join(&session.PeerMetadata{StorageID: "storage-" + id})
		c.expect(session.TypePeer)
		return newSyncClient(c)
	}
	doc := crdt.NewDocumentID()
	a, b := join("peer-a"), join("peer-b")
	a.open(doc, newText(t, "start"))
	b.open(doc, crdttest.NewReplica())
	converged(t, doc, "start", a, b)

	const edits = 150 // per client
	var wg sync.WaitGroup
	for _, c := range []*syncClient{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range edits {
				c.edit(doc, appendText(fmt.Sprintf("%s%d,", c.id[len(c.id)-1:], i)))
			}
		}()
	}
	wg.Wait()
	// The checker loads the stored document for every frame (quadratic in
	// the edits): under -race on a busy machine that takes a while.
	testwait.For(t, 6*waitTimeout, "convergence", func() error {
		if ta, tb := a.text(doc), b.text(doc); ta != tb || strings.Count(ta, ",") != 2*edits {
			return fmt.Errorf("a has %d edits, b %d", strings.Count(ta, ","), strings.Count(tb, ","))
		}
		if !a.heads(doc).Equal(b.heads(doc)) {
			return errors.New("heads differ")
		}
		return nil
	})
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.bad) > 0 {
		t.Fatalf("persist-before-send violated:\n%s", strings.Join(pc.bad, "\n"))
	}
	if pc.syncs < edits {
		t.Fatalf("only %d sync frames checked", pc.syncs)
	}
	t.Logf("%d sync frames checked", pc.syncs)
}

func TestRequestUnknownThenLateArrival(t *testing.T) {
	e := newEnv(t, session.Config{})
	doc := crdt.NewDocumentID()
	waiter := newSyncClient(e.join("peer-waiter"))
	waiter.open(doc, crdttest.NewReplica())
	m := waiter.nextOther()
	if m.Type != session.TypeDocUnavailable || m.DocumentID != doc || m.SenderID != e.m.PeerID() || m.TargetID != waiter.id {
		t.Fatalf("got %+v, want doc-unavailable for %s", m, doc)
	}
	if m.Data != nil {
		t.Fatalf("doc-unavailable carries data %x", m.Data)
	}
	if ok, err := e.store.Exists(doc); err != nil || ok {
		t.Fatalf("store has the unknown document after a request: %v %v", ok, err)
	}

	// Someone uploads it: the waiting client gets it without asking again.
	up := newSyncClient(e.join("peer-uploader"))
	up.open(doc, newText(t, "late but here"))
	converged(t, doc, "late but here", up, waiter)
	if ok, _ := e.store.Exists(doc); !ok {
		t.Fatal("uploaded document not stored")
	}
	select {
	case m := <-waiter.other:
		t.Fatalf("unexpected frame %+v", m)
	default:
	}
}

// On synctest's fake clock: synctest.Wait shows that nothing else arrives.
func TestEphemeralRelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, session.Config{})
		doc := crdt.NewDocumentID()
		a := newSyncClient(e.join("peer-a"))
		b := newSyncClient(e.join("peer-b"))
		c := newSyncClient(e.join("peer-c"))
		bystander := newSyncClient(e.join("peer-d")) // on another document
		a.open(doc, newText(t, "presence"))
		converged(t, doc, "presence", a) // stored before B and C ask: no doc-unavailable
		b.open(doc, crdttest.NewReplica())
		c.open(doc, crdttest.NewReplica())
		converged(t, doc, "presence", a, b, c)
		other := crdt.NewDocumentID()
		bystander.open(other, newText(t, "elsewhere"))
		converged(t, other, "elsewhere", bystander)

		eph := session.Message{Type: session.TypeEphemeral, SenderID: a.id, TargetID: e.m.PeerID(),
			DocumentID: doc, Count: 7, SessionID: "sess-a", Data: []byte{0xb9, 0, 1, 0x65, 'h', 'e', 'l', 'l', 'o', 1}}
		a.send(eph)
		for _, r := range []*syncClient{b, c} {
			got := r.nextOther()
			want := eph
			want.TargetID = r.id
			if got.Type != want.Type || got.SenderID != want.SenderID || got.TargetID != want.TargetID ||
				got.DocumentID != want.DocumentID || got.Count != want.Count || got.SessionID != want.SessionID ||
				!bytes.Equal(got.Data, want.Data) {
				t.Fatalf("%s got %+v, want %+v", r.id, got, want)
			}
		}
		// A repeated or older count is a duplicate; a newer one passes. B
		// echoing A's message is dropped (its sender is not B).
		for _, n := range []uint64{7, 3} {
			dup := eph
			dup.Count = n
			a.send(dup)
		}
		echo := eph
		echo.Count = 100
		b.sendRaw(session.Encode(echo))
		next := eph
		next.Count = 8
		a.send(next)
		for _, r := range []*syncClient{b, c} {
			if got := r.nextOther(); got.Count != 8 {
				t.Fatalf("%s got count %d after duplicates, want 8", r.id, got.Count)
			}
		}
		// B's own message reaches A and C; nothing ever comes back to its sender.
		fromB := eph
		fromB.SenderID, fromB.SessionID, fromB.Count = b.id, "sess-b", 1
		b.send(fromB)
		for _, r := range []*syncClient{a, c} {
			if got := r.nextOther(); got.SenderID != b.id || got.TargetID != r.id {
				t.Fatalf("%s got %+v", r.id, got)
			}
		}

		// An ephemeral message for a document that is not open creates none.
		before := e.m.Stats().Docs
		closedDoc := eph
		closedDoc.DocumentID, closedDoc.Count = crdt.NewDocumentID(), 9
		a.send(closedDoc)
		synctest.Wait()
		if got := e.m.Stats().Docs; got != before {
			t.Fatalf("Docs = %d after an ephemeral message for a closed document, want %d", got, before)
		}
		if ok, _ := e.store.Exists(closedDoc.DocumentID); ok {
			t.Fatal("ephemeral message created storage")
		}
		for _, r := range []*syncClient{a, b, c, bystander} {
			select {
			case m := <-r.other:
				t.Fatalf("%s got unexpected %+v", r.id, m)
			default:
			}
		}
	})
}

// On synctest's fake clock: the idle timer fires when every goroutine waits.
func TestIdleUnload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, session.Config{IdleUnload: 30 * time.Millisecond})
		doc := crdt.NewDocumentID()
		a := newSyncClient(e.join("peer-a"))
		a.open(doc, newText(t, "kept on disk"))
		converged(t, doc, "kept on disk", a)
		testwait.For(t, waitTimeout, "upload stored", func() error {
			if r, err := loadStored(e.store, doc); err != nil || r == nil || !r.Heads().Equal(a.heads(doc)) {
				return fmt.Errorf("store not up to date (%v)", err)
			}
			return nil
		})
		// With a peer subscribed, the document stays loaded.
		time.Sleep(3 * 30 * time.Millisecond)
		synctest.Wait()
		if n := e.m.Stats().Docs; n != 1 {
			t.Fatalf("Docs = %d with a peer subscribed, want 1", n)
		}
		a.hangup()
		testwait.For(t, waitTimeout, "unload", func() error {
			if n := e.m.Stats().Docs; n != 0 {
				return fmt.Errorf("%d documents loaded", n)
			}
			return nil
		})
		b := newSyncClient(e.join("peer-b"))
		b.open(doc, crdttest.NewReplica())
		converged(t, doc, "kept on disk", b)
		if n := e.m.Stats().Docs; n != 1 {
			t.Fatalf("Docs = %d after reopening, want 1", n)
		}
	})
}

func TestSyncStateSavedOnDisconnect(t *testing.T) {
	e := newEnv(t, session.Config{})
	doc := crdt.NewDocumentID()
	durable := newSyncClient(e.join("peer-durable")) // storageId "storage-peer-durable"
	eph := e.connect("peer-ephemeral")
	eph.join(&session.PeerMetadata{StorageID: "storage-peer-ephemeral", IsEphemeral: true})
	eph.expect(session.TypePeer)
	ephemeral := newSyncClient(eph)

	durable.open(doc, newText(t, "remember me"))
	ephemeral.open(doc, crdttest.NewReplica())
	converged(t, doc, "remember me", durable, ephemeral)

	// The ephemeral peer leaves first; the document handles leaves in
	// order, so once the durable peer's state is saved, the ephemeral
	// peer's leave has been handled too.
	ephemeral.hangup()
	durable.hangup()
	testwait.For(t, waitTimeout, "sync state saved", func() error {
		state, err := e.store.LoadSyncState(doc, "storage-peer-durable")
		if err != nil {
			return err
		}
		if len(state) == 0 {
			return errors.New("empty sync state")
		}
		return nil
	})
	e.shutdown()
	if _, err := e.store.LoadSyncState(doc, "storage-peer-ephemeral"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("sync state of an ephemeral peer: err = %v, want ErrNotFound", err)
	}
}

// A returning durable peer resumes from its stored sync state: the server
// knows what it has and sends only what is new.
func TestReturningPeerResumes(t *testing.T) {
	e := newEnv(t, session.Config{})
	doc := crdt.NewDocumentID()
	a := newSyncClient(e.join("peer-a"))
	a.open(doc, newText(t, "v1"))
	b := newSyncClient(e.join("peer-b"))
	rb := crdttest.NewReplica()
	b.open(doc, rb)
	converged(t, doc, "v1", a, b)
	b.hangup()
	testwait.For(t, waitTimeout, "b's sync state saved", func() error {
		_, err := e.store.LoadSyncState(doc, "storage-peer-b")
		return err
	})
	a.edit(doc, appendText(" v2"))
	converged(t, doc, "v1 v2", a)

	b2 := newSyncClient(e.join("peer-b"))
	b.mu.Lock()
	rb.ResetSync() // a reconnecting client keeps its document, not its sync state
	b.mu.Unlock()
	b2.open(doc, rb)
	converged(t, doc, "v1 v2", a, b2)
}
