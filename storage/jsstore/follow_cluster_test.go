package jsstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage/jsstore"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
)

// A follow in a three-server cluster survives the loss of the server that hosts its
// consumer, and of the server its connection is on: it delivers every later chunk, once, in
// order. (nats.go's ordered consumer alone stalled for good when a pull ended with the
// hosting server's shutdown.)
func TestFollowSurvivesServerLoss(t *testing.T) {
	for _, victim := range []string{"consumer host", "connected server"} {
		t.Run(strings.ReplaceAll(victim, " ", "_"), func(t *testing.T) {
			cl := jstest.NewCluster(t, 3)
			nc := connect(t, cl.URLs())
			f := open(t, nc, jsstore.Options{})
			w := open(t, connect(t, cl.URLs()), jsstore.Options{PublishTimeout: 10 * time.Second})
			c := follow(t, f, "doc", 0)
			seqs := []uint64{mustAppend(t, w, "doc", "before", 1)}
			c.wait(t, 1)
			name := nc.ConnectedServerName()
			if victim == "consumer host" {
				name = consumerHost(t, nc)
			}
			cl.Kill(serverIndex(t, name))
			deadline := time.Now().Add(30 * time.Second)
			for i := 0; i < 10; {
				seq, err := w.Append(t.Context(), "doc", fmt.Appendf(nil, "after-%d", i), 1)
				if err != nil {
					if time.Now().After(deadline) {
						t.Fatalf("Append with %s (%s) down: %v", victim, name, err)
					}
					time.Sleep(100 * time.Millisecond)
					continue
				}
				seqs = append(seqs, seq)
				i++
			}
			c.wait(t, len(seqs))
			time.Sleep(300 * time.Millisecond) // would a duplicate come?
			got := c.wait(t, len(seqs))
			if len(got) != len(seqs) {
				t.Fatalf("follow delivered %d entries, want %d: %+v", len(got), len(seqs), got)
			}
			for i, g := range got {
				if g.Seq != seqs[i] {
					t.Errorf("entry %d seq %d, want %d", i, g.Seq, seqs[i])
				}
			}
		})
	}
}

// consumerHost is the name of the server leading the one consumer on WEFT_CHUNKS (the
// follow's).
func consumerHost(t *testing.T, nc *nats.Conn) string {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(t.Context(), "WEFT_CHUNKS")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	l := st.ListConsumers(t.Context())
	for info := range l.Info() {
		if info.Cluster != nil {
			hosts = append(hosts, info.Cluster.Leader)
		}
	}
	if l.Err() != nil || len(hosts) != 1 || hosts[0] == "" {
		t.Fatalf("consumers' hosts: %v (%v), want one", hosts, l.Err())
	}
	return hosts[0]
}

// serverIndex maps jstest's server names (s1, s2, ...) to Kill's index.
func serverIndex(t *testing.T, name string) int {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(name, "s%d", &i); err != nil || i < 1 {
		t.Fatalf("server name %q", name)
	}
	return i - 1
}
