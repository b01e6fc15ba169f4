package main

import (
	"bufio"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/relaytest"
	"github.com/weft-dev/weft/storage/testwait"
)

// startNode runs a weft node joined to the NATS server at url.
func startNode(t testing.TB, url, data string, args ...string) *server {
	t.Helper()
	return startServer(t, data, append([]string{"--nats", url}, args...)...)
}

// sameText waits until every client's replica of doc holds the same text
// and it contains each of want.
func sameText(t testing.TB, doc string, want []string, cs ...*wsClient) string {
	t.Helper()
	var got string
	testwait.Until(t, 15*time.Second, "convergence", func() bool {
		got = cs[0].text(doc)
		for _, w := range want {
			if !strings.Contains(got, w) {
				return false
			}
		}
		for _, c := range cs[1:] {
			if c.text(doc) != got {
				return false
			}
		}
		return true
	})
	return got
}

func TestClusterCoEditAcrossNodes(t *testing.T) {
	ns := relaytest.RunNATS(t, -1)
	nodes := []*server{startNode(t, ns.ClientURL(), ""), startNode(t, ns.ClientURL(), ""), startNode(t, ns.ClientURL(), "")}
	doc := crdt.NewDocumentID()
	a := dial(t, nodes[0], "alice", dialOpts{})
	if err := a.edit(doc, 0, 0, "created on A."); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 10*time.Second, "A to acknowledge", func() bool { return a.text(doc) != "" })
	// Found through C, which never had it.
	c := dial(t, nodes[2], "carol", dialOpts{})
	c.open(doc)
	sameText(t, doc, []string{"created on A."}, a, c)
	b := dial(t, nodes[1], "bob", dialOpts{})
	b.open(doc)
	sameText(t, doc, []string{"created on A."}, a, b, c)

	// Co-editing on three nodes, concurrently.
	for i := 0; i < 30; i++ {
		for j, cl := range []*wsClient{a, b, c} {
			if err := cl.edit(doc, 0, 0, string(rune('a'+j))); err != nil {
				t.Fatal(err)
			}
		}
	}
	text := sameText(t, doc, []string{"created on A."}, a, b, c)
	if len(text) != len("created on A.")+90 {
		t.Fatalf("converged on %q (%d bytes), want 90 more letters", text, len(text))
	}

	// Presence crosses nodes.
	eph := session.Message{Type: session.TypeEphemeral, SenderID: "alice", DocumentID: doc, SessionID: "s", Count: 1, Data: []byte{0xa1, 0x61, 0x01}}
	if err := a.send(eph); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*wsClient{b, c} {
		deadline := time.After(10 * time.Second)
		for found := false; !found; {
			select {
			case m := <-cl.got:
				found = m.Type == session.TypeEphemeral && m.SenderID == "alice" && m.TargetID == cl.peerID
			case <-deadline:
				t.Fatalf("%s got no ephemeral message from alice", cl.peerID)
			}
		}
	}
}

// A node stopped right after its edits were relayed loses nothing: its
// client reconnects to another node and finds everything.
func TestClusterNodeStops(t *testing.T) {
	ns := relaytest.RunNATS(t, -1)
	n1 := startNode(t, ns.ClientURL(), "")
	n2 := startNode(t, ns.ClientURL(), "")
	doc := crdt.NewDocumentID()
	a := dial(t, n1, "alice", dialOpts{})
	b := dial(t, n2, "bob", dialOpts{})
	a.edit(doc, 0, 0, "hello")
	testwait.Until(t, 10*time.Second, "n1 to acknowledge", func() bool { return len(a.heads(doc)) > 0 })
	b.open(doc)
	sameText(t, doc, []string{"hello"}, a, b)
	for i := 0; i < 20; i++ {
		a.edit(doc, 5+i, 0, "!")
	}
	want := "hello" + strings.Repeat("!", 20)
	sameText(t, doc, []string{want}, a, b)
	n1.stop()
	<-a.closed

	// Alice reconnects to n2 with her replica and keeps writing.
	a2 := dial(t, n2, "alice", dialOpts{})
	a2.mu.Lock()
	a2.docs[doc] = a.docs[doc]
	a2.docs[doc].ResetSync()
	a2.mu.Unlock()
	a2.edit(doc, 0, 0, ">")
	sameText(t, doc, []string{">" + want}, a2, b)

	// A third node with an empty data directory recovers it all.
	n3 := startNode(t, ns.ClientURL(), "")
	c := dial(t, n3, "carol", dialOpts{})
	c.open(doc)
	sameText(t, doc, []string{">" + want}, a2, b, c)
}

// NATS goes away; both sides keep writing; NATS comes back: converged,
// nothing lost.
func TestClusterNATSRestart(t *testing.T) {
	ns := relaytest.RunNATS(t, -1)
	port := ns.Addr().(interface{ String() string }).String()
	url := ns.ClientURL()
	n1 := startNode(t, url, "")
	n2 := startNode(t, url, "")
	doc := crdt.NewDocumentID()
	a := dial(t, n1, "alice", dialOpts{})
	b := dial(t, n2, "bob", dialOpts{})
	a.edit(doc, 0, 0, "base")
	testwait.Until(t, 10*time.Second, "n1 to acknowledge", func() bool { return len(a.heads(doc)) > 0 })
	b.open(doc)
	sameText(t, doc, []string{"base"}, a, b)

	ns.Shutdown()
	ns.WaitForShutdown()
	for i := 0; i < 5; i++ {
		a.edit(doc, 0, 0, "A")
		b.edit(doc, len(b.text(doc)), 0, "B")
	}
	// Each node serves its own clients meanwhile.
	testwait.Until(t, 10*time.Second, "local acknowledgements", func() bool {
		return strings.Count(a.text(doc), "A") == 5 && strings.Count(b.text(doc), "B") == 5
	})
	_, p, _ := strings.Cut(port, ":")
	var portN int
	fmt.Sscan(p, &portN)
	relaytest.RunNATS(t, portN)
	text := sameText(t, doc, []string{"AAAAAbase", "BBBBB"}, a, b)
	if len(text) != 14 {
		t.Fatalf("converged on %q", text)
	}
	// And on disk on both nodes: a new node learns it all from them.
	n3 := startNode(t, url, "")
	c := dial(t, n3, "carol", dialOpts{})
	c.open(doc)
	sameText(t, doc, []string{text}, a, b, c)
}

// kill -9 of a node process after its edits were relayed loses nothing.
func TestClusterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	ns := relaytest.RunNATS(t, -1)
	bin := filepath.Join(t.TempDir(), "weft")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--nats", ns.ClientURL(), "--workers", "1", "--log-level", "warn")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	u := strings.TrimSpace(strings.TrimPrefix(line, "weft: listening on "))
	victim := &server{url: u, ws: "ws" + strings.TrimPrefix(u, "http") + "/"}
	other := startNode(t, ns.ClientURL(), "")

	doc := crdt.NewDocumentID()
	a := dial(t, victim, "alice", dialOpts{})
	b := dial(t, other, "bob", dialOpts{})
	a.edit(doc, 0, 0, "typed on the victim")
	testwait.Until(t, 10*time.Second, "acknowledgement", func() bool { return len(a.heads(doc)) > 0 })
	b.open(doc)
	sameText(t, doc, []string{"typed on the victim"}, a, b)
	for i := 0; i < 10; i++ {
		a.edit(doc, 0, 0, "#")
	}
	want := strings.Repeat("#", 10) + "typed on the victim"
	sameText(t, doc, []string{want}, a, b) // bob saw it: relayed
	cmd.Process.Kill()
	cmd.Wait()
	<-a.closed
	c := dial(t, other, "carol", dialOpts{})
	c.open(doc)
	sameText(t, doc, []string{want}, b, c)
}

// BenchmarkClusterFanout: one writer types into a document on node 1; 10
// light readers follow it on node 2 (see BenchmarkFanout). Reports changes/s
// and writer-to-reader latency across the two nodes and NATS.
func BenchmarkClusterFanout(b *testing.B) {
	b.Run("max", func(b *testing.B) { benchCluster(b, 0) })
	b.Run("rate=200", func(b *testing.B) { benchCluster(b, 200) })
}

func benchCluster(b *testing.B, rate float64) {
	ns := relaytest.RunNATS(b, -1)
	n1 := startNode(b, ns.ClientURL(), "", "--log-level", "warn")
	n2 := startNode(b, ns.ClientURL(), "", "--log-level", "warn")
	benchFanout(b, rate, n1, n2)
}
