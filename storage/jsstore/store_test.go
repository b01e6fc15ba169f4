package jsstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/jsstore"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
)

// A chunk above the server's max payload goes through the object store, and comes back
// whole from Load and Follow.
func TestLargeChunk(t *testing.T) {
	srv := jstest.RunServer(t, "")
	nc := connect(t, srv.ClientURL())
	s := open(t, nc, jsstore.Options{})
	big := bytes.Repeat([]byte("0123456789abcdef"), int(nc.MaxPayload())/8) // twice the max payload
	c := follow(t, s, "doc", 0)
	mustAppend(t, s, "doc", "small", 1)
	seq, err := s.Append(t.Context(), "doc", big, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("doc")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Incrementals) != 2 || !bytes.Equal(got.Incrementals[1], big) || got.LastSeq != seq || got.Bytes != int64(len(big)+5) {
		t.Errorf("Load: %d incrementals, LastSeq %d (want %d), Bytes %d", len(got.Incrementals), got.LastSeq, seq, got.Bytes)
	}
	if l := c.wait(t, 2)[1]; !bytes.Equal(l.Chunk, big) || l.Changes != 3 || l.Seq != seq {
		t.Errorf("Follow delivered %d bytes, %d changes at %d", len(l.Chunk), l.Changes, l.Seq)
	}
	m, err := s.Meta("doc")
	if err != nil || m.Size != int64(len(big)+5) || m.Chunks != 2 {
		t.Errorf("Meta = %+v, %v", m, err)
	}
	if err := s.Delete(t.Context(), "doc"); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	obs, err := js.ObjectStore(t.Context(), "WEFT_BLOBS")
	if err != nil {
		t.Fatal(err)
	}
	if infos, err := obs.List(t.Context()); !errors.Is(err, jetstream.ErrNoObjectsFound) {
		t.Errorf("blobs after Delete: %d, %v; want none", len(infos), err)
	}
}

// Ids outside [A-Za-z0-9_-] are encoded for subjects and keys, and come back as they were.
func TestOddIDs(t *testing.T) {
	srv := jstest.RunServer(t, "")
	s := open(t, connect(t, srv.ClientURL()), jsstore.Options{})
	ids := []string{"a.b", "with space/ü", "*>", "=x", "plain-id_1"}
	for _, id := range ids {
		mustAppend(t, s, id, id, 1)
		if err := s.SaveSyncState(t.Context(), id, "peer.one", []byte(id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		c, err := s.Load(id)
		if err != nil || len(c.Incrementals) != 1 || string(c.Incrementals[0]) != id {
			t.Errorf("Load(%q) = %+v, %v", id, c, err)
		}
		if st, err := s.LoadSyncState(id, "peer.one"); err != nil || string(st) != id {
			t.Errorf("LoadSyncState(%q) = %q, %v", id, st, err)
		}
	}
	list, err := s.List("", 0)
	if err != nil || len(list) != len(ids) {
		t.Fatalf("List = %+v, %v", list, err)
	}
	for i := 1; i < len(list); i++ {
		if list[i-1].ID >= list[i].ID {
			t.Errorf("List out of order: %q before %q", list[i-1].ID, list[i].ID)
		}
	}
}

func TestNoJetStream(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	_, err = jsstore.Open(t.Context(), connect(t, srv.ClientURL()), jsstore.Options{Logger: quiet})
	if !errors.Is(err, jsstore.ErrNoJetStream) || !strings.Contains(err.Error(), "-js") {
		t.Fatalf("Open without JetStream: %v, want ErrNoJetStream", err)
	}
}

// With the server down, writes fail at once with ErrUnavailable, and Load serves what the
// fallback cache holds: the last Load plus this store's acknowledged appends.
func TestUnavailableAndFallback(t *testing.T) {
	srv := jstest.RunServer(t, "")
	nc := connect(t, srv.ClientURL(), nats.ReconnectWait(time.Second))
	s := open(t, nc, jsstore.Options{})
	mustAppend(t, s, "cached", "one", 1)
	if _, err := s.Load("cached"); err != nil {
		t.Fatal(err)
	}
	seq := mustAppend(t, s, "cached", "two", 1)
	mustAppend(t, s, "other", "x", 1) // never loaded: not cached
	srv.Shutdown()
	srv.WaitForShutdown()
	for nc.IsConnected() {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	_, err := s.Append(t.Context(), "cached", []byte("three"), 1)
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Append while down: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("Append while down took %v", d)
	}
	c, err := s.Load("cached")
	if err != nil || len(c.Incrementals) != 2 || string(c.Incrementals[1]) != "two" || c.LastSeq != seq {
		t.Errorf("Load while down = %+v, %v; want the two acknowledged chunks", c, err)
	}
	for name, call := range map[string]func() error{
		"Load (uncached)": func() error { _, err := s.Load("other"); return err },
		"Meta":            func() error { _, err := s.Meta("cached"); return err },
		"List":            func() error { _, err := s.List("", 0); return err },
		"Compact":         func() error { return s.Compact(t.Context(), "cached", []byte("s"), seq, 2) },
		"SaveSyncState":   func() error { return s.SaveSyncState(t.Context(), "cached", "p", []byte("s")) },
	} {
		if err := call(); !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s while down: %v, want ErrUnavailable", name, err)
		}
	}
}

// Two stores (two nodes) appending to one document at once keep its metadata exact.
func TestConcurrentStoresOneDoc(t *testing.T) {
	srv := jstest.RunServer(t, "")
	stores := []*jsstore.Store{
		open(t, connect(t, srv.ClientURL()), jsstore.Options{}),
		open(t, connect(t, srv.ClientURL()), jsstore.Options{}),
	}
	const perStore, writers = 40, 4
	var wg sync.WaitGroup
	for i, s := range stores {
		for w := range writers {
			wg.Go(func() {
				for j := range perStore / writers {
					if _, err := s.Append(context.Background(), "doc", fmt.Appendf(nil, "%d-%d-%02d", i, w, j), 2); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	const n = 2 * perStore
	for _, s := range stores {
		m, err := s.Meta("doc")
		if err != nil || m.Chunks != n || m.Changes != 2*n || m.Size != 6*n {
			t.Errorf("Meta = %+v, %v; want %d chunks, %d changes, %d bytes", m, err, n, 2*n, 6*n)
		}
		c, err := s.Load("doc")
		if err != nil || len(c.Incrementals) != n || c.Bytes != 6*n {
			t.Errorf("Load: %d incrementals, %d bytes, %v", len(c.Incrementals), c.Bytes, err)
		}
	}
}

// On a 3-server cluster the store uses 3 replicas, and acknowledged appends survive the
// loss of one server; writes go on with two.
func TestClusterReplicas(t *testing.T) {
	cl := jstest.NewCluster(t, 3)
	nc := connect(t, cl.URLs())
	s := open(t, nc, jsstore.Options{PublishTimeout: 10 * time.Second})
	if s.Replicas() != 3 {
		t.Fatalf("Replicas() = %d, want 3", s.Replicas())
	}
	js, _ := jetstream.New(nc)
	st, err := js.Stream(t.Context(), "WEFT_CHUNKS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(t.Context())
	if err != nil || info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream info: %+v, %v; want 3 replicas", info, err)
	}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprint("c", i))
		mustAppend(t, s, "doc", want[i], 1)
	}
	cl.Kill(0)
	deadline := time.Now().Add(20 * time.Second)
	for i := 10; i < 15; {
		_, err := s.Append(t.Context(), "doc", fmt.Appendf(nil, "c%d", i), 1)
		if err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("Append with one server down: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		want = append(want, fmt.Sprint("c", i))
		i++
	}
	c := loadEventually(t, s, "doc", len(want))
	for i, w := range want {
		if string(c.Incrementals[i]) != w {
			t.Errorf("chunk %d = %q, want %q", i, c.Incrementals[i], w)
		}
	}
	cl.Restart(0)
}

func loadEventually(t *testing.T, s *jsstore.Store, doc string, n int) storage.Chunks {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := s.Load(doc)
		if err == nil && len(c.Incrementals) == n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("Load(%s) = %d incrementals, %v; want %d", doc, len(c.Incrementals), err, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
