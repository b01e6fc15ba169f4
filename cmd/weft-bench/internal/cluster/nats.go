package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/launch"
)

// NATS is a running nats-server setup with JetStream: one server, or a
// cluster of several, each with its own store directory.
type NATS struct {
	servers []*launch.Server
	urls    []string // client URLs
	monitor []string // monitoring base URLs (http://127.0.0.1:PORT)
	dir     string   // the store directories; removed by Stop
}

// URLs is the comma-separated client URLs, for weft's --nats.
func (n *NATS) URLs() string { return strings.Join(n.urls, ",") }

// StartNATS starts n nats-servers of bin with JetStream on free loopback
// ports (a cluster with routes between them when n > 1) and waits until
// JetStream is ready on every one: a meta leader elected and every server
// a current member, so that a stream of n replicas can be placed.
func StartNATS(ctx context.Context, bin string, n int) (*NATS, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("--nats-bin: %w (make bin/nats-server builds it)", err)
	}
	dir, err := os.MkdirTemp("", "weft-bench-nats-")
	if err != nil {
		return nil, fmt.Errorf("nats store directory: %w", err)
	}
	ns := &NATS{dir: dir}
	ports, err := freePorts(3 * n)
	if err != nil {
		ns.Stop()
		return nil, err
	}
	client, route, mon := ports[:n], ports[n:2*n], ports[2*n:]
	for i := range n {
		args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(client[i]), "-m", strconv.Itoa(mon[i]),
			"-js", "-sd", filepath.Join(dir, fmt.Sprintf("n%d", i+1)), "--server_name", fmt.Sprintf("n%d", i+1)}
		if n > 1 {
			var routes []string
			for j, p := range route {
				if j != i {
					routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
				}
			}
			args = append(args, "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", route[i]),
				"--cluster_name", "weft-bench", "--routes", strings.Join(routes, ","))
		}
		s, _, err := launch.Start(fmt.Sprintf("nats-server n%d", i+1), exec.Command(bin, args...), "", natsReady)
		if err != nil {
			ns.Stop()
			return nil, err
		}
		ns.servers = append(ns.servers, s)
		ns.urls = append(ns.urls, fmt.Sprintf("nats://127.0.0.1:%d", client[i]))
		ns.monitor = append(ns.monitor, fmt.Sprintf("http://127.0.0.1:%d", mon[i]))
	}
	if err := ns.waitJetStream(ctx, n); err != nil {
		err = fmt.Errorf("%w\n%s", err, ns.Log())
		ns.Stop()
		return nil, err
	}
	return ns, nil
}

func natsReady(l string) (string, bool) { return "", strings.Contains(l, "Server is ready") }

// freePorts returns n TCP ports free on 127.0.0.1 right now: all bound at
// once (so they differ), then released.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// jsz is what waitJetStream reads of a server's /jsz.
type jsz struct {
	Disabled    bool `json:"disabled"`
	MetaCluster *struct {
		Leader      string `json:"leader"`
		ClusterSize int    `json:"cluster_size"`
	} `json:"meta_cluster"`
}

// waitJetStream polls every server's /healthz and /jsz (30 s at most)
// until JetStream is current on every one (healthz) and, in a cluster,
// each knows the meta leader of a group of all n servers.
func (n *NATS) waitJetStream(ctx context.Context, size int) error {
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = n.jetStreamReady(ctx, size); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("nats-server: JetStream not ready within 30 s: %w", last)
}

func (n *NATS) jetStreamReady(ctx context.Context, size int) error {
	for _, m := range n.monitor {
		var h struct {
			Status string `json:"status"`
			Error  string `json:"error"`
		}
		if err := getJSON(ctx, m+"/healthz", &h); err != nil {
			return err
		}
		if h.Status != "ok" {
			return fmt.Errorf("%s/healthz: %s %s", m, h.Status, h.Error)
		}
		var j jsz
		if err := getJSON(ctx, m+"/jsz", &j); err != nil {
			return err
		}
		if j.Disabled {
			return fmt.Errorf("%s: JetStream disabled", m)
		}
		if size == 1 {
			continue
		}
		mc := j.MetaCluster
		if mc == nil || mc.Leader == "" || mc.ClusterSize != size {
			return fmt.Errorf("%s: meta group not formed", m)
		}
	}
	return nil
}

// CheckReplicas checks that every stream (weft's chunks, buckets and
// object stores) has want replicas: a JetStream cluster that was not whole
// when weft created them would have left them with fewer.
func (n *NATS) CheckReplicas(ctx context.Context, want int) error {
	var j struct {
		Accounts []struct {
			Streams []struct {
				Name   string `json:"name"`
				Config struct {
					Replicas int `json:"num_replicas"`
				} `json:"config"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := getJSON(ctx, n.monitor[0]+"/jsz?accounts=true&streams=true&config=true", &j); err != nil {
		return err
	}
	seen := 0
	for _, a := range j.Accounts {
		for _, st := range a.Streams {
			seen++
			if st.Config.Replicas != want {
				return fmt.Errorf("stream %s has %d replicas, want %d", st.Name, st.Config.Replicas, want)
			}
		}
	}
	if seen == 0 {
		return fmt.Errorf("no JetStream stream found (weft made none?)")
	}
	return nil
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// Log is the tail of every server's output.
func (n *NATS) Log() string {
	var b strings.Builder
	for _, s := range n.servers {
		fmt.Fprintf(&b, "-- %s:\n%s\n", s.Name, s.Log())
	}
	return b.String()
}

// Stop stops every server and removes their store directories.
func (n *NATS) Stop() {
	for _, s := range n.servers {
		s.Stop()
	}
	os.RemoveAll(n.dir)
}
