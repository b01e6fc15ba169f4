package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/relaytest"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
	"github.com/weft-dev/weft/storage/testwait"
)

// startNode runs a weft node on the NATS servers at urls (JetStream).
func startNode(t testing.TB, urls, data string, args ...string) *server {
	t.Helper()
	return startServer(t, data, append([]string{"--nats", urls}, args...)...)
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

// waitAcked waits until the server has advertised c's heads of doc.
func waitAcked(t testing.TB, c *wsClient, doc string) {
	t.Helper()
	testwait.Until(t, 15*time.Second, "the server to acknowledge "+c.peerID+"'s edits", func() bool { return c.acked(doc) })
}

// live wraps c in a liveClient of doc on s: it reconnects, as real
// clients do, when the server closes it (after a storage outage).
func live(t testing.TB, s *server, doc string, c *wsClient) *liveClient {
	l := &liveClient{t: t, s: s, doc: doc}
	l.cur.Store(c)
	return l
}

// liveAcked waits until every live client's replica of doc holds want and
// the server acknowledged it.
func liveAcked(t testing.TB, doc, want string, ls ...*liveClient) {
	t.Helper()
	testwait.For(t, 20*time.Second, "convergence on "+want, func() error {
		cs := make([]*wsClient, len(ls))
		for i, l := range ls {
			cs[i] = l.get() // each reconnects if it was closed
		}
		for _, c := range cs {
			if got := c.text(doc); got != want {
				return fmt.Errorf("%s has %q", c.peerID, got)
			}
			if !c.acked(doc) {
				return fmt.Errorf("%s's heads are not acknowledged", c.peerID)
			}
		}
		return nil
	})
}

// fetchText opens doc through s with a fresh client and waits for want.
func fetchText(t testing.TB, s *server, doc, want string) {
	t.Helper()
	c := dial(t, s, "reader-"+doc[:6], dialOpts{})
	c.open(doc)
	testwait.Until(t, 15*time.Second, "a fresh client to get "+doc, func() bool { return c.text(doc) == want })
	c.conn.Close()
}

func TestClusterCoEditAcrossNodes(t *testing.T) {
	js := jstest.NewCluster(t, 3)
	nodes := []*server{startNode(t, js.URLs(), ""), startNode(t, js.URLs(), ""), startNode(t, js.URLs(), "")}
	doc := crdt.NewDocumentID()
	a := dial(t, nodes[0], "alice", dialOpts{})
	if err := a.edit(doc, 0, 0, "created on A."); err != nil {
		t.Fatal(err)
	}
	waitAcked(t, a, doc)
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
		select {
		case m := <-cl.got:
			if m.Type != session.TypeEphemeral || m.SenderID != "alice" {
				t.Fatalf("%s got %+v, want alice's ephemeral message", cl.peerID, m)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no ephemeral message from another node", cl.peerID)
		}
	}
}

// A node leaves for good and its data directory is removed: every
// document written only through it is served by the others, including a
// node that starts with an empty data directory.
func TestClusterNodeLeavesWithItsDisk(t *testing.T) {
	js := jstest.NewCluster(t, 3)
	n1dir := t.TempDir()
	n1 := startNode(t, js.URLs(), n1dir)
	n2 := startNode(t, js.URLs(), "")
	a := dial(t, n1, "alice", dialOpts{})
	docs := make([]string, 20)
	for i := range docs {
		docs[i] = crdt.NewDocumentID()
		if err := a.edit(docs[i], 0, 0, fmt.Sprintf("document %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, doc := range docs {
		waitAcked(t, a, doc)
	}
	if err := n1.stop(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(n1dir); err != nil {
		t.Fatal(err)
	}
	n3 := startNode(t, js.URLs(), "")
	for i, doc := range docs {
		fetchText(t, []*server{n2, n3}[i%2], doc, fmt.Sprintf("document %d", i))
	}
	code, body := httpGet(t, n3.url+"/api/docs?limit=100")
	if code != 200 || strings.Count(body, `"id"`) != len(docs) {
		t.Fatalf("GET /api/docs on a new node: %d %s; want the %d documents", code, body, len(docs))
	}
}

// One NATS server of three dies during continuous edits through two nodes:
// the edits go on, and nothing acknowledged is lost.
func TestClusterNATSServerDies(t *testing.T) {
	js := jstest.NewCluster(t, 3)
	n1 := startNode(t, js.URLs(), "")
	n2 := startNode(t, js.URLs(), "")
	doc := crdt.NewDocumentID()
	a := dial(t, n1, "alice", dialOpts{})
	b := dial(t, n2, "bob", dialOpts{})
	a.edit(doc, 0, 0, "|")
	waitAcked(t, a, doc)
	b.open(doc)
	sameText(t, doc, []string{"|"}, a, b)
	A, B := live(t, n1, doc, a), live(t, n2, doc, b)
	for i := 0; i < 60; i++ {
		if i == 20 {
			js.Kill(0)
		}
		A.get().edit(doc, 0, 0, "a")
		bc := B.get()
		bc.edit(doc, len(bc.text(doc)), 0, "b")
		time.Sleep(10 * time.Millisecond) // typists, not a burst
	}
	want := strings.Repeat("a", 60) + "|" + strings.Repeat("b", 60)
	liveAcked(t, doc, want, A, B)
	fetchText(t, startNode(t, js.URLs(), ""), doc, want)
}

// All of NATS goes away: edits are held, not acknowledged, and the clients
// stay connected; when NATS comes back everything converges and is stored.
func TestClusterNATSDown(t *testing.T) {
	dir := jstest.StoreDir(t)
	ns := jstest.RunServer(t, dir)
	port := jstest.Port(ns)
	url := ns.ClientURL()
	n1 := startNode(t, url, "")
	n2 := startNode(t, url, "")
	doc := crdt.NewDocumentID()
	a := dial(t, n1, "alice", dialOpts{})
	b := dial(t, n2, "bob", dialOpts{})
	a.edit(doc, 0, 0, "base")
	waitAcked(t, a, doc)
	b.open(doc)
	sameText(t, doc, []string{"base"}, a, b)

	ns.Shutdown()
	ns.WaitForShutdown()
	for i := 0; i < 5; i++ {
		a.edit(doc, 0, 0, "A")
		b.edit(doc, len(b.text(doc)), 0, "B")
	}
	time.Sleep(500 * time.Millisecond) // what a server would acknowledge by now
	if a.acked(doc) || b.acked(doc) {
		t.Fatal("an edit was acknowledged while no NATS server could store it")
	}
	select {
	case <-a.closed:
		t.Fatalf("alice was cut off while NATS was down: %v", a.closeErr)
	default:
	}
	jstest.RunServerAt(t, dir, port)
	// Their writers reconnect (told so), as real clients do, and send
	// what was not stored.
	A, B := live(t, n1, doc, a), live(t, n2, doc, b)
	const want = "AAAAAbaseBBBBB"
	liveAcked(t, doc, want, A, B)
	fetchText(t, startNode(t, url, ""), doc, want)
}

// A delete through one node holds on every node: peers elsewhere are
// closed, and the document cannot come back through another node.
func TestClusterDeleteHolds(t *testing.T) {
	js := jstest.NewCluster(t, 3)
	n1 := startNode(t, js.URLs(), "")
	n2 := startNode(t, js.URLs(), "")
	doc := crdt.NewDocumentID()
	a := dial(t, n1, "alice", dialOpts{})
	a.edit(doc, 0, 0, "to be deleted")
	waitAcked(t, a, doc)
	b := dial(t, n2, "bob", dialOpts{})
	b.open(doc)
	sameText(t, doc, []string{"to be deleted"}, a, b)

	if r := call(t, "DELETE", n1.url+"/api/docs/"+doc, nil); r.status != 204 {
		t.Fatalf("DELETE: %d %s", r.status, r.body)
	}
	closedWith(t, b, session.CloseDeleted, "bob, on another node, after the delete")
	// Bob comes back through the other node with his copy and writes.
	b2 := dial(t, n2, "bob", dialOpts{})
	b.mu.Lock()
	b2.docs[doc] = b.docs[doc]
	b2.docs[doc].ResetSync()
	b.mu.Unlock()
	b2.edit(doc, 0, 0, "back? ")
	closedWith(t, b2, session.CloseDeleted, "bob's write to the deleted document")
	for _, s := range []*server{n1, n2, startNode(t, js.URLs(), "")} {
		if r := call(t, "GET", s.url+"/api/docs/"+doc, nil); r.status != 404 {
			t.Fatalf("GET of the deleted document through %s: %d %s", s.url, r.status, r.body)
		}
	}
}

// A node started with --nats on a data directory that holds documents
// uploads them into JetStream, once.
func TestClusterUploadsLocalDocuments(t *testing.T) {
	dir := t.TempDir()
	single := startServer(t, dir)
	doc := crdt.NewDocumentID()
	a := dial(t, single, "alice", dialOpts{})
	a.edit(doc, 0, 0, "written before the cluster")
	waitAcked(t, a, doc)
	if err := single.stop(); err != nil {
		t.Fatal(err)
	}
	js := jstest.NewCluster(t, 3)
	n1 := startNode(t, js.URLs(), dir)
	testwait.Until(t, 10*time.Second, "the upload to be logged", func() bool {
		return strings.Contains(n1.logs.String(), "uploaded the data directory")
	})
	fetchText(t, startNode(t, js.URLs(), ""), doc, "written before the cluster")
}

// Without JetStream, a node refuses to start and says how to enable it.
func TestClusterNeedsJetStream(t *testing.T) {
	ns := relaytest.RunNATS(t, -1)
	logs := &testwait.Log{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--nats", ns.ClientURL()}, &strings.Builder{}, logs)
	if err == nil || !strings.Contains(err.Error(), "JetStream") {
		t.Fatalf("serve on NATS without JetStream: %v, want an error about JetStream", err)
	}
}

// kill -9 of a node process right after it acknowledged an edit, its disk
// removed: another node serves the edit.
func TestClusterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	js := jstest.NewCluster(t, 3)
	bin := filepath.Join(t.TempDir(), "weft")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	data := t.TempDir()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", data, "--nats", js.URLs(), "--workers", "1", "--log-level", "warn")
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

	doc := crdt.NewDocumentID()
	a := dial(t, victim, "alice", dialOpts{})
	a.edit(doc, 0, 0, "typed on the victim")
	for i := 0; i < 10; i++ {
		a.edit(doc, 0, 0, "#")
	}
	waitAcked(t, a, doc)
	cmd.Process.Kill()
	cmd.Wait()
	os.RemoveAll(data)
	fetchText(t, startNode(t, js.URLs(), ""), doc, strings.Repeat("#", 10)+"typed on the victim")
}

// BenchmarkClusterFanout: one writer types into a document on node 1; 10
// light readers follow it on node 2 (see BenchmarkFanout). Reports changes/s
// and writer-to-reader latency across the two nodes and JetStream, with
// one JetStream server (replicas 1) and with three (replicas 3).
func BenchmarkClusterFanout(b *testing.B) {
	for _, servers := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d/max", servers), func(b *testing.B) { benchCluster(b, servers, 0) })
		b.Run(fmt.Sprintf("replicas=%d/rate=200", servers), func(b *testing.B) { benchCluster(b, servers, 200) })
	}
}

func benchCluster(b *testing.B, servers int, rate float64) {
	var urls string
	if servers > 1 {
		urls = jstest.NewCluster(b, servers).URLs()
	} else {
		urls = jstest.RunServer(b, "").ClientURL()
	}
	n1 := startNode(b, urls, "", "--log-level", "warn")
	n2 := startNode(b, urls, "", "--log-level", "warn")
	benchFanout(b, rate, n1, n2)
}

// weft backup --server through any node of a cluster copies every
// document into a bbolt file that a single node opens.
func TestClusterBackup(t *testing.T) {
	js := jstest.NewCluster(t, 3)
	n1 := startNode(t, js.URLs(), "")
	n2 := startNode(t, js.URLs(), "")
	a := dial(t, n1, "alice", dialOpts{})
	docs := []string{crdt.NewDocumentID(), crdt.NewDocumentID(), crdt.NewDocumentID()}
	for i, doc := range docs {
		a.edit(doc, 0, 0, fmt.Sprintf("backed up %d", i))
		waitAcked(t, a, doc)
	}
	dir := t.TempDir()
	if stderr, err := runCmd(t, "backup", "--server", n2.url, "-o", filepath.Join(dir, "weft.db")); err != nil {
		t.Fatalf("backup through another node: %v\n%s", err, stderr)
	}
	// The copy serves the documents on a single node.
	restored := startServer(t, dir)
	for i, doc := range docs {
		fetchText(t, restored, doc, fmt.Sprintf("backed up %d", i))
	}
}

// closedWith waits up to 10 s for c to be closed, with code.
func closedWith(t *testing.T, c *wsClient, code int, what string) {
	t.Helper()
	select {
	case <-c.closed:
		expectRefused(t, c.closeErr, code)
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not closed within 10s", what)
	}
}
