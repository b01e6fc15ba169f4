// Package jstest runs embedded nats-server instances with JetStream for tests: one server
// ([RunServer]) or an in-process cluster ([RunCluster]) whose servers can be killed and
// restarted on the same store directory. Everything is shut down in t.Cleanup.
package jstest

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"
)

const readyTimeout = 20 * time.Second

// RunServer starts one nats-server with JetStream on a random port, its store in dir (a fresh
// t.TempDir() if dir is empty), and shuts it down in t.Cleanup.
func RunServer(t testing.TB, dir string) *server.Server {
	t.Helper()
	if dir == "" {
		dir = StoreDir(t)
	}
	s := start(t, &server.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir,
	})
	t.Cleanup(func() { shutdown(s) })
	return s
}

// RunServerAt starts a nats-server with JetStream on the given port and store dir, as a
// restarted server would (same port, same data). It is shut down in t.Cleanup.
func RunServerAt(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	s := start(t, &server.Options{
		Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir,
	})
	t.Cleanup(func() { shutdown(s) })
	return s
}

// Port returns the client port s listens on.
func Port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

func start(t testing.TB, o *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatalf("jstest: nats-server: %v", err)
	}
	if os.Getenv("JSTEST_LOG") != "" { // JSTEST_LOG=1 go test ...: the servers' logs on stderr
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		t.Fatal("jstest: nats-server not ready")
	}
	return s
}

// StoreDir returns a fresh store directory, removed after the test. Unlike
// t.TempDir, its removal tolerates a shut-down server's last asynchronous
// writes (JetStream flushes stream state from goroutines of its own): it
// tries for a while, then leaves the directory to the OS.
func StoreDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "jstest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for range 50 {
			if os.RemoveAll(dir) == nil {
				return
			}
			time.Sleep(20 * time.Millisecond) // the server's flushes end on their own
		}
	})
	return dir
}

func shutdown(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// Cluster is an in-process JetStream cluster.
type Cluster struct {
	t       testing.TB
	mu      sync.Mutex
	servers []*server.Server // nil while killed
	opts    []*server.Options
}

// RunCluster starts an n-server JetStream cluster and waits until it has a meta leader and
// every server is current. It returns the servers (see [Cluster.Servers] after restarts).
func RunCluster(t testing.TB, n int) []*server.Server {
	return NewCluster(t, n).Servers()
}

// NewCluster is [RunCluster] returning the *Cluster, for Kill and Restart. The route ports
// are picked first (a JetStream cluster needs its routes configured from the start), so that
// every server routes to every other and a restarted one finds them again.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t}
	name := fmt.Sprintf("weft-test-%d", time.Now().UnixNano())
	ports := freePorts(t, 2*n)
	var routes []*url.URL
	for i := range n {
		u, err := url.Parse(fmt.Sprintf("nats://127.0.0.1:%d", ports[n+i]))
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, u)
	}
	t.Cleanup(c.shutdown)
	for i := range n {
		o := &server.Options{
			ServerName: fmt.Sprintf("s%d", i+1), Host: "127.0.0.1", Port: ports[i],
			NoLog: os.Getenv("JSTEST_LOG") == "", NoSigs: true, JetStream: true, StoreDir: StoreDir(t),
			Cluster: server.ClusterOpts{Name: name, Host: "127.0.0.1", Port: ports[n+i]},
			Routes:  routes,
		}
		c.servers = append(c.servers, start(t, o))
		c.opts = append(c.opts, o)
	}
	c.WaitReady()
	return c
}

// freePorts finds n free TCP ports on 127.0.0.1.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("jstest: free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Servers returns the running servers (nil for a killed one).
func (c *Cluster) Servers() []*server.Server {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*server.Server(nil), c.servers...)
}

// URLs returns every server's client URL, running or not, comma-separated (nats.Connect's form).
func (c *Cluster) URLs() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := ""
	for i, o := range c.opts {
		if i > 0 {
			out += ","
		}
		out += fmt.Sprintf("nats://127.0.0.1:%d", o.Port)
	}
	return out
}

// Kill shuts server i down (its store dir is kept).
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	s := c.servers[i]
	c.servers[i] = nil
	c.mu.Unlock()
	if s != nil {
		shutdown(s)
	}
}

// Restart starts killed server i again, with the same name, ports and store dir, and waits
// until the cluster is ready.
func (c *Cluster) Restart(i int) *server.Server {
	c.t.Helper()
	c.mu.Lock()
	o := c.opts[i].Clone()
	c.mu.Unlock()
	s := start(c.t, o)
	c.mu.Lock()
	c.servers[i] = s
	c.mu.Unlock()
	c.WaitReady()
	return s
}

// WaitReady waits until JetStream has a meta leader and every running server is current.
func (c *Cluster) WaitReady() {
	c.t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if c.ready() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatal("jstest: JetStream cluster not ready")
}

func (c *Cluster) ready() bool {
	leader := false
	for _, s := range c.Servers() {
		if s == nil {
			continue
		}
		if !s.JetStreamIsCurrent() {
			return false
		}
		if s.JetStreamIsLeader() {
			leader = true
		}
	}
	return leader
}

func (c *Cluster) shutdown() {
	for i := range c.Servers() {
		c.Kill(i)
	}
}

// IgnoreLeaks are the goroutines goleak must ignore in tests that run JetStream, none of them
// weft's:
//   - nats-server's stream state flusher and its ats goroutine can outlive the Shutdown of a
//     server restarted on the same store dir, for a moment;
//   - nats.go v1.55's jetstream starts resetPendingAcksOnReconnect on an async publisher's
//     first use, and an object store Put cleans that publisher up on return (object.go,
//     cleanupReplySub): when the cleanup runs first, the goroutine reads a nil channel and
//     blocks for ever. Rare, one per lost race, upstream.
var IgnoreLeaks = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server.(*fileStore).flushStreamStateLoop"),
	goleak.IgnoreTopFunction("github.com/nats-io/nats-server/v2/server/ats.Register.func1"),
	goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
}
