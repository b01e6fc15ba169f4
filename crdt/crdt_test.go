package crdt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/storage/testwait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	crdt.MaybeRunWorker()
	// Pool.Shutdown leaves a goroutine per worker that kills the process
	// after 5s if it is stuck; it exits on its own.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/weft-dev/weft/crdt.(*Pool).Shutdown.func1"))
}

func TestDocumentID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		want string // hex payload, "" for invalid
	}{
		{"automerge-repo example", "4NMNnkMhL8jXrdJ9jamS58PAVdXu", "f1c29c8474c84adeb800be47627d33bf"},
		{"bad checksum", "4NMNnkMhL8jXrdJ9jamS58PAVdXv", ""},
		{"not base58", "4NMNnkMhL8jXrdJ9jamS58PAVdX0", ""},
		{"empty", "", ""},
		{"automerge url form", "automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu", ""},
		{"plain words", "not-a-valid-id", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := crdt.ParseDocumentID(tt.id)
			if tt.want == "" {
				if !errors.Is(err, crdt.ErrInvalidID) {
					t.Fatalf("ParseDocumentID(%q) = %x, %v; want ErrInvalidID", tt.id, p, err)
				}
				return
			}
			if err != nil || fmt.Sprintf("%x", p) != tt.want {
				t.Fatalf("ParseDocumentID(%q) = %x, %v; want %s", tt.id, p, err, tt.want)
			}
			if got := crdt.EncodeDocumentID(p); got != tt.id {
				t.Fatalf("EncodeDocumentID = %q, want %q", got, tt.id)
			}
		})
	}
	for i := 0; i < 100; i++ {
		id := crdt.NewDocumentID()
		if !crdt.ValidDocumentID(id) {
			t.Fatalf("NewDocumentID produced invalid %q", id)
		}
	}
}

// client is an automerge peer playing the remote side of a sync.
type client struct {
	doc *automerge.Doc
	ss  *automerge.SyncState
}

func newClient(t *testing.T, text string) *client {
	t.Helper()
	d := automerge.New()
	if text != "" {
		if err := d.Path("text").Set(automerge.NewText(text)); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit("init"); err != nil {
			t.Fatal(err)
		}
	}
	return &client{doc: d, ss: automerge.NewSyncState(d)}
}

func (c *client) edit(t *testing.T, s string) {
	t.Helper()
	v, err := c.doc.Path("text").Get()
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind() != automerge.KindText {
		if err := c.doc.Path("text").Set(automerge.NewText("")); err != nil {
			t.Fatal(err)
		}
	}
	n := c.doc.Path("text").Text().Len()
	if err := c.doc.Path("text").Text().Insert(n, s); err != nil {
		t.Fatal(err)
	}
	if _, err := c.doc.Commit("edit"); err != nil {
		t.Fatal(err)
	}
}

func (c *client) text(t *testing.T) string {
	t.Helper()
	s, err := c.doc.Path("text").Text().Get()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// syncPair runs messages between a client and the engine (peer id
// "c<i>") until neither side has anything to say, storing every reported
// change chunk in stored.
func syncPair(t *testing.T, e crdt.Engine, doc string, peer string, c *client, stored *bytes.Buffer) {
	t.Helper()
	ctx := context.Background()
	for round := 0; round < 50; round++ {
		msg, ok := c.ss.GenerateMessage()
		var reply []byte
		if ok {
			res, err := e.Receive(ctx, crdt.Receive{Doc: doc, Peer: peer, Msg: msg.Bytes()})
			if err != nil {
				t.Fatalf("Receive: %v", err)
			}
			stored.Write(res.Changes)
			reply = res.Reply
		} else {
			out, err := e.Generate(ctx, doc, []string{peer})
			if err != nil {
				t.Fatal(err)
			}
			if len(out) == 0 {
				return
			}
			reply = out[0].Msg
		}
		if reply != nil {
			if _, err := c.ss.ReceiveMessage(reply); err != nil {
				t.Fatalf("client ReceiveMessage: %v", err)
			}
		}
	}
	t.Fatal("sync did not settle in 50 rounds")
}

func engines(t *testing.T) map[string]func(t *testing.T) crdt.Engine {
	return map[string]func(t *testing.T) crdt.Engine{
		"local": func(t *testing.T) crdt.Engine { return crdt.NewLocal(nil) },
		"pool": func(t *testing.T) crdt.Engine {
			p, err := crdt.NewPool(&crdt.PoolOptions{Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Shutdown() })
			return p
		},
	}
}

func TestTwoPeersConverge(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			e := mk(t)
			ctx := context.Background()
			doc := crdt.NewDocumentID()
			if _, err := e.Open(ctx, doc, nil); err != nil {
				t.Fatal(err)
			}
			var stored bytes.Buffer
			a, b := newClient(t, "hello"), newClient(t, "")
			syncPair(t, e, doc, "a", a, &stored)
			syncPair(t, e, doc, "b", b, &stored)
			if got := b.text(t); got != "hello" {
				t.Fatalf("b sees %q", got)
			}
			for i := 0; i < 20; i++ {
				a.edit(t, fmt.Sprintf(" a%d", i))
				b.edit(t, fmt.Sprintf(" b%d", i))
				if i%3 == 0 {
					syncPair(t, e, doc, "a", a, &stored)
					syncPair(t, e, doc, "b", b, &stored)
				}
			}
			for i := 0; i < 2; i++ {
				syncPair(t, e, doc, "a", a, &stored)
				syncPair(t, e, doc, "b", b, &stored)
			}
			if a.text(t) != b.text(t) {
				t.Fatalf("diverged: %q vs %q", a.text(t), b.text(t))
			}
			// The change chunks the engine reported rebuild the document.
			hs, err := e.Heads(ctx, doc)
			if err != nil {
				t.Fatal(err)
			}
			reloaded := crdt.NewLocal(nil)
			rh, err := reloaded.Open(ctx, "x", stored.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if !rh.Equal(hs) || !hs.Equal(crdt.DocHeads(a.doc)) {
				t.Fatalf("heads: engine %v, reloaded %v, client %v", hs, rh, crdt.DocHeads(a.doc))
			}
			// Snapshot + later changes load too.
			snap, err := e.Save(ctx, doc)
			if err != nil {
				t.Fatal(err)
			}
			a.edit(t, " tail")
			mark := stored.Len()
			syncPair(t, e, doc, "a", a, &stored)
			rh, err = reloaded.Open(ctx, "y", append(snap, stored.Bytes()[mark:]...))
			if err != nil {
				t.Fatal(err)
			}
			if !rh.Equal(crdt.DocHeads(a.doc)) {
				t.Fatalf("snapshot+incremental heads %v, want %v", rh, crdt.DocHeads(a.doc))
			}
		})
	}
}

// Changes delivered out of order wait inside Automerge; they must still be
// reported (and so persisted) when they finally apply.
func TestOutOfOrderChangesReported(t *testing.T) {
	ctx := context.Background()
	e := crdt.NewLocal(nil)
	if _, err := e.Open(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, "x")
	c.edit(t, "1")
	c.edit(t, "2")
	chs, err := c.doc.Changes()
	if err != nil {
		t.Fatal(err)
	}
	raw := func(cs ...*automerge.Change) [][]byte {
		var out [][]byte
		for _, ch := range cs {
			out = append(out, ch.Save())
		}
		return out
	}
	total := 0
	var stored bytes.Buffer
	// Last change first: it cannot apply yet.
	for _, batch := range [][]*automerge.Change{{chs[2]}, {chs[0]}, {chs[1]}} {
		msg := crdt.BuildMessage(crdt.DocHeads(c.doc), nil, raw(batch...))
		res, err := e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "p", Msg: msg})
		if err != nil {
			t.Fatal(err)
		}
		total += res.NChanges
		stored.Write(res.Changes)
	}
	if total != 3 {
		t.Fatalf("reported %d changes, want 3", total)
	}
	r := crdt.NewLocal(nil)
	hs, err := r.Open(ctx, "r", stored.Bytes())
	if err != nil || !hs.Equal(crdt.DocHeads(c.doc)) {
		t.Fatalf("reload: %v %v, want %v", hs, err, crdt.DocHeads(c.doc))
	}
}

func TestAckWhenInSync(t *testing.T) {
	ctx := context.Background()
	e := crdt.NewLocal(nil)
	c := newClient(t, "same")
	var stored bytes.Buffer
	if _, err := e.Open(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	syncPair(t, e, "d", "p", c, &stored)
	// A returning client with the same document: fresh sync states.
	if err := e.SetPeer(ctx, "d", "p", nil); err != nil {
		t.Fatal(err)
	}
	c.ss = automerge.NewSyncState(c.doc)
	msg, ok := c.ss.GenerateMessage()
	if !ok {
		t.Fatal("client has nothing to say")
	}
	res, err := e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "p", Msg: msg.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply == nil {
		t.Fatal("no acknowledgement for an in-sync peer")
	}
	sm, err := c.ss.ReceiveMessage(res.Reply)
	if err != nil {
		t.Fatalf("client rejects the acknowledgement: %v", err)
	}
	var got crdt.Heads
	for _, h := range sm.Heads() {
		got = append(got, crdt.Hash(h))
	}
	crdt.SortHeads(got)
	if !got.Equal(crdt.DocHeads(c.doc)) {
		t.Fatalf("ack heads %v, want %v", got, crdt.DocHeads(c.doc))
	}
	// The peer says again that it is in sync: no second acknowledgement
	// (otherwise two servers' acknowledgements would ping-pong).
	res, err = e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "p", Msg: crdt.AckMessage(crdt.DocHeads(c.doc))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply != nil {
		t.Fatalf("second acknowledgement sent")
	}
}

func TestMalformedMessages(t *testing.T) {
	ctx := context.Background()
	e := crdt.NewLocal(&crdt.LocalOptions{MaxMessage: 1 << 10})
	if _, err := e.Open(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, "abc")
	good, _ := c.ss.GenerateMessage()
	gb := good.Bytes()
	chs, _ := c.doc.Changes()
	bad := chs[0].Save()
	bad[len(bad)-1] ^= 0xff // body changed, checksum now wrong
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{"empty", nil, crdt.ErrBadMessage},
		{"v2 message", []byte{0x43, 0, 0, 0, 0}, crdt.ErrBadMessage},
		{"truncated", gb[:len(gb)/2], crdt.ErrBadMessage},
		{"huge count", []byte{0x42, 0xff, 0xff, 0xff, 0xff, 0x0f}, crdt.ErrBadMessage},
		{"bad change checksum", crdt.BuildMessage(nil, nil, [][]byte{bad}), crdt.ErrBadMessage},
		{"too large", make([]byte, 2<<10), crdt.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "p", Msg: tt.msg})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := e.Receive(ctx, crdt.Receive{Doc: "nope", Peer: "p", Msg: gb}); !errors.Is(err, crdt.ErrNotOpen) {
		t.Fatalf("unknown doc: %v", err)
	}
	if _, err := e.Open(ctx, "x", []byte("not automerge at all")); !errors.Is(err, crdt.ErrCorrupt) {
		t.Fatalf("corrupt open: %v", err)
	}
}

// crafted returns a sync message whose change chunk was mutated and then
// given a valid checksum, the kind of input that aborts automerge-rs 0.5.0.
func crafted(rng *rand.Rand, change []byte) []byte {
	c := bytes.Clone(change)
	// mutate a few body bytes after the header
	for i := 0; i < 1+rng.IntN(3); i++ {
		pos := 12 + rng.IntN(len(c)-12)
		c[pos] = byte(rng.IntN(256))
	}
	crdt.FixChecksum(c)
	return crdt.BuildMessage(nil, nil, [][]byte{c})
}

func TestPoolSurvivesCrashes(t *testing.T) {
	ctx := context.Background()
	whys := make(chan string, 100)
	p, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1, OnCrash: func(_ int, why string) { whys <- why }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	c := newClient(t, "the quick brown fox jumps over the lazy dog")
	chs, _ := c.doc.Changes()
	change := chs[0].Save()
	rng := rand.New(rand.NewPCG(1, 2))
	sawCrash := false
	for i := 0; i < 2000 && !sawCrash; i++ {
		if _, err := p.Open(ctx, "victim", nil); err != nil {
			t.Fatalf("open after %d tries: %v", i, err)
		}
		_, err := p.Receive(ctx, crdt.Receive{Doc: "victim", Peer: "evil", Msg: crafted(rng, change)})
		if errors.Is(err, crdt.ErrCrashed) {
			sawCrash = true
			t.Logf("crashed after %d crafted messages", i+1)
		}
	}
	if !sawCrash {
		t.Fatal("no crafted message crashed the worker in 2000 tries; the supervision path went untested")
	}
	select {
	case why := <-whys:
		t.Logf("worker died: %s", why)
	case <-time.After(10 * time.Second):
		t.Fatal("OnCrash not called")
	}
	// The document is gone from the dead worker until reopened.
	if _, err := p.Heads(ctx, "victim"); !errors.Is(err, crdt.ErrNotOpen) {
		t.Fatalf("after crash: %v, want ErrNotOpen", err)
	}
	// The restarted worker serves normally.
	var stored bytes.Buffer
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := p.Open(ctx, "good", nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker did not come back: %v", err)
		}
	}
	syncPair(t, p, "good", "a", newClient(t, "fine"), &stored)
	if stored.Len() == 0 {
		t.Fatal("no changes stored after restart")
	}
}

func TestPoolKillAndShutdown(t *testing.T) {
	ctx := context.Background()
	p, err := crdt.NewPool(&crdt.PoolOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Open(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(p.Worker("d")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the killed worker's document gone", func() error {
		if _, err := p.Heads(ctx, "d"); !errors.Is(err, crdt.ErrNotOpen) {
			return fmt.Errorf("killed worker still reports the document: %v", err)
		}
		return nil
	})
	if _, err := p.Open(ctx, "d", nil); err != nil {
		t.Fatalf("reopen on restarted worker: %v", err)
	}
	p.Shutdown()
	p.Shutdown()
	if _, err := p.Heads(ctx, "d"); !errors.Is(err, crdt.ErrClosed) {
		t.Fatalf("after shutdown: %v", err)
	}
}

// A fresh peer whose messages carry the capability trailer of current
// cores gets the whole document as one chunk, not every change.
func TestFreshModernPeerGetsDocumentChunk(t *testing.T) {
	ctx := context.Background()
	e := crdt.NewLocal(nil)
	if _, err := e.Open(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, "x")
	for i := 0; i < 30; i++ {
		c.edit(t, "y")
	}
	var stored bytes.Buffer
	syncPair(t, e, "d", "writer", c, &stored)
	// The request automerge-repo sends for a document it lacks (JS 3.5).
	request := []byte{0x42, 0, 0, 1, 0, 0, 0, 2, 2, 0x84}
	res, err := e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "fresh", Msg: request})
	if err != nil {
		t.Fatal(err)
	}
	m := crdt.NewReader(res.Reply, 1)
	hs := m.Hashes()
	m.Hashes()       // need
	m.Count()        // one have
	m.Hashes()       // last_sync
	m.Take(m.Uleb()) // bloom
	if n := m.Count(); n != 1 || m.Err() != nil {
		t.Fatalf("reply carries %d chunks (%v), want 1", n, m.Err())
	}
	chunk := m.Take(m.Uleb())
	if chunk[8] != 0 {
		t.Fatalf("chunk type %d, want a document chunk", chunk[8])
	}
	r, err := crdttest.LoadReplica(chunk)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Heads().Equal(crdt.DocHeads(c.doc)) || !crdt.Heads(hs).Equal(crdt.DocHeads(c.doc)) {
		t.Fatalf("document chunk heads %v, message heads %v, want %v", r.Heads(), hs, crdt.DocHeads(c.doc))
	}
	// A 0.5.0 peer (no trailer) still gets Automerge's own messages.
	old := []byte{0x42, 0, 0, 1, 0, 0, 0}
	res, err = e.Receive(ctx, crdt.Receive{Doc: "d", Peer: "old", Msg: old})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := crdt.MessageChanges(res.Reply); err != nil || n != 31 {
		t.Fatalf("0.5.0 peer got %d changes (%v), want all 31", n, err)
	}
}
