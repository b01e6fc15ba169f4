package session_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage/testwait"
)

// cluster is n Managers, each with its own store, joined by an in-memory
// relay network.
type cluster struct {
	net    *session.MemRelayNetwork
	relays []*session.MemRelay
	envs   []*env
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{net: session.NewMemRelayNetwork()}
	for i := 0; i < n; i++ {
		c.add(t, fmt.Sprintf("node-%d", i))
	}
	return c
}

func (c *cluster) add(t *testing.T, id string) *env {
	t.Helper()
	r := c.net.Node(id)
	t.Cleanup(func() { r.Close() }) // after the Manager's shutdown
	e := newEnv(t, session.Config{Relay: r, PeerID: "weft-" + id})
	c.relays = append(c.relays, r)
	c.envs = append(c.envs, e)
	return e
}

func (c *cluster) client(t *testing.T, node int, id string) *syncClient {
	t.Helper()
	return newSyncClient(c.envs[node].join(id))
}

// storedText is what node's store holds of doc ("" when nothing).
func storedText(t *testing.T, e *env, doc string) string {
	t.Helper()
	r, err := loadStored(e.store, doc)
	if err != nil || r == nil {
		return ""
	}
	s, _ := r.Text("text")
	return s
}

func TestClusterCoEdit(t *testing.T) {
	c := newCluster(t, 3)
	doc := crdt.NewDocumentID()
	a := c.client(t, 0, "alice")
	a.open(doc, newText(t, "a"))
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
	for i, e := range c.envs {
		testwait.For(t, waitTimeout, "stored copy", func() error {
			if got := storedText(t, e, doc); got != final {
				return fmt.Errorf("node %d stores %q", i, got)
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
	// Node 2 never had it open and stores nothing: it asks the others.
	if got := storedText(t, c.envs[2], doc); got != "" {
		t.Fatalf("node 2 stores %q before anyone asked it", got)
	}
	z := c.client(t, 2, "zoe")
	z.open(doc, crdttest.NewReplica())
	converged(t, doc, "written on node 0", z)
	if got := storedText(t, c.envs[2], doc); got != "written on node 0" {
		t.Fatalf("node 2 stores %q after serving it", got)
	}

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
	b := c.client(t, 1, "bob")
	b.open(doc, crdttest.NewReplica())
	converged(t, doc, "x", a, b)
	a.send(session.Message{Type: session.TypeEphemeral, DocumentID: doc, SessionID: "s1", Count: 1, Data: []byte{0xa0}})
	m := b.nextOther()
	for m.Type == session.TypeDocUnavailable { // bob asked before alice's first change reached node 1
		m = b.nextOther()
	}
	if m.Type != session.TypeEphemeral || m.SenderID != "alice" || m.TargetID != "bob" || m.SessionID != "s1" {
		t.Fatalf("bob got %+v", m)
	}
}

func TestClusterPartition(t *testing.T) {
	c := newCluster(t, 3)
	doc := crdt.NewDocumentID()
	a := c.client(t, 0, "alice")
	a.open(doc, newText(t, "base"))
	b := c.client(t, 1, "bob")
	b.open(doc, crdttest.NewReplica())
	z := c.client(t, 2, "zoe")
	z.open(doc, crdttest.NewReplica())
	converged(t, doc, "base", a, b, z)

	// Node 1 is cut off; both sides keep writing.
	c.relays[1].Disconnect()
	a.edit(doc, appendText(" A"))
	b.edit(doc, appendText(" B"))
	converged(t, doc, "base A", a, z)
	converged(t, doc, "base B", b)

	c.relays[1].Reconnect()
	testwait.For(t, waitTimeout, "reconciliation", func() error {
		ta := a.text(doc)
		if !strings.Contains(ta, " A") || !strings.Contains(ta, " B") || ta != b.text(doc) || ta != z.text(doc) {
			return fmt.Errorf("texts %q %q %q", ta, b.text(doc), z.text(doc))
		}
		return nil
	})
	converged(t, doc, a.text(doc), a, b, z)
}

// A node that missed a message (a gap: changes that wait for their
// dependencies) catches up by itself.
// On synctest's fake clock: the gap timer (250 ms, doubling) fires as soon as
// every goroutine waits.
func TestClusterGapCatchUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, 2)
		doc := crdt.NewDocumentID()
		a := c.client(t, 0, "alice")
		a.open(doc, newText(t, "base"))
		b := c.client(t, 1, "bob")
		b.open(doc, crdttest.NewReplica())
		converged(t, doc, "base", a, b)
		c.relays[1].Disconnect()
		a.edit(doc, appendText(" lost"))
		converged(t, doc, "base lost", a)
		// Reconnect without telling node 1 (no OnReconnect): the next change
		// arrives without its dependency.
		c.relays[1].Disconnect()
		reconnectQuietly(c.relays[1])
		a.edit(doc, appendText(" found"))
		converged(t, doc, "base lost found", a, b)
	})
}

func reconnectQuietly(r *session.MemRelay) { r.SetConnected(true) }
