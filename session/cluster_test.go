package session_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/jsstore"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
	"github.com/weft-dev/weft/storage/testwait"
)

// cluster is n Managers sharing one JetStream store (each with its own
// connection and jsstore.Store on one embedded server, as weft serve's
// nodes do), their ephemeral frames joined by an in-memory relay network.
type cluster struct {
	url    string
	net    *session.MemRelayNetwork
	relays []*session.MemRelay
	stores []*jsstore.Store
	envs   []*env
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	s := jstest.RunServer(t, "")
	c := &cluster{url: s.ClientURL(), net: session.NewMemRelayNetwork()}
	for i := 0; i < n; i++ {
		c.add(t, fmt.Sprintf("node-%d", i))
	}
	return c
}

func (c *cluster) add(t *testing.T, id string) *env {
	t.Helper()
	return c.addWith(t, id, func(st *jsstore.Store) session.Store { return st })
}

// addWith adds a node whose Manager uses wrap(its store).
func (c *cluster) addWith(t *testing.T, id string, wrap func(*jsstore.Store) session.Store) *env {
	t.Helper()
	st := c.store(t)
	r := c.net.Node(id)
	t.Cleanup(func() { r.Close() }) // after the Manager's shutdown
	e := newEnv(t, session.Config{Store: wrap(st), Relay: r, PeerID: "weft-" + id})
	c.relays = append(c.relays, r)
	c.stores = append(c.stores, st)
	c.envs = append(c.envs, e)
	return e
}

// store opens another jsstore.Store on the cluster's server, with its own connection.
func (c *cluster) store(t *testing.T) *jsstore.Store {
	t.Helper()
	nc, err := nats.Connect(c.url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st, err := jsstore.Open(ctx, nc, jsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func (c *cluster) client(t *testing.T, node int, id string) *syncClient {
	t.Helper()
	return newSyncClient(c.envs[node].join(id))
}

// storedText is what st holds of doc ("" when nothing).
func storedText(t *testing.T, st session.Store, doc string) string {
	t.Helper()
	chunks, err := st.Load(doc)
	if err != nil {
		return ""
	}
	r, err := crdttest.LoadReplica(chunks.Concat())
	if err != nil {
		t.Fatalf("stored chunks do not load: %v", err)
	}
	s, _ := r.Text("text")
	return s
}

// A Manager with a Relay and a store that is not shared would keep its
// changes to itself: NewManager refuses it.
func TestClusterRelayNeedsSharedLog(t *testing.T) {
	st, err := storage.Open(filepath.Join(t.TempDir(), "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := session.Config{Store: st, Engine: crdt.NewLocal(nil), Relay: session.NewMemRelayNetwork().Node("n")}
	if m, err := session.NewManager(cfg); err == nil {
		m.Shutdown(context.Background())
		t.Fatal("NewManager accepted a Relay over a store that is not a SharedLog")
	}
}

func TestClusterCoEdit(t *testing.T) {
	c := newCluster(t, 3)
	doc := crdt.NewDocumentID()
	a := c.client(t, 0, "alice")
	a.open(doc, newText(t, "a"))
	converged(t, doc, "a", a) // stored before the others ask: no doc-unavailable
	b := c.client(t, 1, "bob")
	b.open(doc, crdttest.NewReplica())
	z := c.client(t, 2, "zoe")
	z.open(doc, crdttest.NewReplica())
	converged(t, doc, "a", a, b, z)
	want := "a"
	for i, cl := range []*syncClient{b, z, a, z, b, a} {
		s := fmt.Sprint(i)
		cl.edit(doc, appendText(s))
		want += s
		converged(t, doc, want, a, b, z)
	}
	// Concurrent edits on every node.
	for i := 0; i < 20; i++ {
		a.edit(doc, appendText("x"))
		b.edit(doc, appendText("y"))
		z.edit(doc, appendText("z"))
	}
	testwait.For(t, waitTimeout, "concurrent edits converge", func() error {
		ta := a.text(doc)
		if len(ta) != len(want)+60 || ta != b.text(doc) || ta != z.text(doc) {
			return fmt.Errorf("texts %q %q %q", ta, b.text(doc), z.text(doc))
		}
		return nil
	})
	final := a.text(doc)
	converged(t, doc, final, a, b, z)
	for i, st := range c.stores {
		testwait.For(t, waitTimeout, "stored copy", func() error {
			if got := storedText(t, st, doc); got != final {
				return fmt.Errorf("node %d's store holds %q", i, got)
			}
			return nil
		})
	}
}

func TestClusterDocumentFromAnotherNode(t *testing.T) {
	c := newCluster(t, 3)
	doc := crdt.NewDocumentID()
	a := c.client(t, 0, "alice")
	a.open(doc, newText(t, "written on node 0"))
	converged(t, doc, "written on node 0", a)
	a.hangup()
	// Node 2 never had it open: it loads it from the shared store.
	if session.Loaded(c.envs[2].m, doc) {
		t.Fatal("node 2 has the document open before anyone asked it")
	}
	z := c.client(t, 2, "zoe")
	z.open(doc, crdttest.NewReplica())
	converged(t, doc, "written on node 0", z)

	// A document nobody has is unavailable, quickly.
	missing := crdt.NewDocumentID()
	start := time.Now()
	z.open(missing, crdttest.NewReplica())
	if m := z.nextOther(); m.Type != session.TypeDocUnavailable {
		t.Fatalf("got %s, want doc-unavailable", m.Type)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("doc-unavailable took %v", took)
	}
}

func TestClusterEphemeral(t *testing.T) {
	c := newCluster(t, 2)
	doc := crdt.NewDocumentID()
	a := c.client(t, 0, "alice")
	a.open(doc, newText(t, "x"))
	converged(t, doc, "x", a)
	b := c.client(t, 1, "bob")
	b.open(doc, crdttest.NewReplica())
	converged(t, doc, "x", a, b)
	sendEphemeral(t, a, b, doc, "s1")
}

// sendEphemeral has from send an ephemeral message and wants to receive it.
func sendEphemeral(t *testing.T, from, to *syncClient, doc, sid string) {
	t.Helper()
	from.send(session.Message{Type: session.TypeEphemeral, DocumentID: doc, SessionID: sid, Count: 1, Data: []byte{0xa0}})
	m := to.nextOther()
	if m.Type != session.TypeEphemeral || m.SenderID != from.id || m.TargetID != to.id || m.SessionID != sid {
		t.Fatalf("%s got %+v", to.id, m)
	}
}

// A node cut off from the others' relay still co-edits (the documents
// cross through the store); once it is back, ephemeral messages cross
// again.
func TestClusterPartition(t *testing.T) {
	c := newCluster(t, 2)
	doc := crdt.NewDocumentID()
	a := c.client(t, 0, "alice")
	a.open(doc, newText(t, "base"))
	converged(t, doc, "base", a)
	b := c.client(t, 1, "bob")
	b.open(doc, crdttest.NewReplica())
	converged(t, doc, "base", a, b)

	c.relays[1].Disconnect()
	a.edit(doc, appendText(" A"))
	converged(t, doc, "base A", a, b)
	b.edit(doc, appendText(" B"))
	converged(t, doc, "base A B", a, b)
	if err := c.relays[1].PublishEphemeral(doc, []byte("lost")); err == nil {
		t.Fatal("a disconnected relay published")
	}

	c.relays[1].Reconnect()
	sendEphemeral(t, b, a, doc, "after")
	sendEphemeral(t, a, b, doc, "after")
}
