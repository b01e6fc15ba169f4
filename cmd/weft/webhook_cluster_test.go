package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
	"github.com/weft-dev/weft/storage/testwait"
)

// hookReceiver counts the changes of successful deliveries by hash; while failing it
// answers 503 (the deliveries stay pending, retried).
type hookReceiver struct {
	mu       sync.Mutex
	seen     map[string]int
	failing  atomic.Bool
	attempts atomic.Int64
}

func (hr *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hr.attempts.Add(1)
	if hr.failing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var p webhook.Payload
	json.Unmarshal(body, &p)
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for _, c := range p.Changes {
		hr.seen[c.Hash.String()]++
	}
}

// check reports a missing change or one delivered twice.
func (hr *hookReceiver) check(want []string) error {
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for _, h := range want {
		if n := hr.seen[h]; n != 1 {
			return fmt.Errorf("change %s delivered %d times", h[:8], n)
		}
	}
	if len(hr.seen) != len(want) {
		return fmt.Errorf("%d changes delivered, want %d", len(hr.seen), len(want))
	}
	return nil
}

// deliveries returns how many deliveries s's log holds.
func deliveries(t testing.TB, s *server) int {
	r := call(t, "GET", s.url+"/api/webhooks/deliveries", nil)
	wantStatus(t, r, 200, "deliveries")
	var log struct{ Deliveries []webhook.Delivery }
	json.Unmarshal(r.body, &log)
	return len(log.Deliveries)
}

// In a cluster each change is delivered once per hook whichever node it went through, and
// deliveries pending on a node that stops are made by the other.
func TestClusterWebhooksOnce(t *testing.T) {
	js := jstest.NewCluster(t, 3)
	hr := &hookReceiver{seen: map[string]int{}}
	recv := httptest.NewServer(hr)
	defer recv.Close()
	cfg := filepath.Join(t.TempDir(), "hooks.json")
	os.WriteFile(cfg, []byte(`{"debounce":"50ms","retryBase":"50ms","retryMax":"200ms","maxAttempts":100000,`+
		`"hooks":[{"url":"`+recv.URL+`","secret":"s"}]}`), 0o600)
	nodes := []*server{
		startNode(t, js.URLs(), "", "--webhooks", cfg, "--shutdown-grace", "4s"),
		startNode(t, js.URLs(), "", "--webhooks", cfg, "--shutdown-grace", "4s"),
	}
	docs := []string{createDoc(t, nodes[0], map[string]any{"text": ""}), createDoc(t, nodes[1], map[string]any{"text": ""})}
	var want []string
	for i, doc := range docs { // the creations are changes too
		_, heads := docJSON(t, nodes[i], doc, "")
		want = append(want, heads)
	}
	edit := func(i int) {
		want = append(want, apiEdit(t, nodes[i%2], docs[(i/2)%2], i))
	}
	for i := range 10 {
		edit(i)
	}
	testwait.For(t, 15*time.Second, "every change delivered once", func() error { return hr.check(want) })

	// The receiver fails: deliveries pile up on the node consuming the feed; it stops.
	hr.failing.Store(true)
	for i := 10; i < 30; i++ {
		edit(i)
	}
	before := hr.attempts.Load()
	testwait.Until(t, 15*time.Second, "failed attempts", func() bool { return hr.attempts.Load() > before+3 })
	consumer := 0
	if deliveries(t, nodes[1]) > 0 {
		consumer = 1
	}
	if err := nodes[consumer].stop(); err != nil {
		t.Fatal(err)
	}
	hr.failing.Store(false)
	other := nodes[1-consumer]
	for i := 30; i < 34; i++ {
		want = append(want, apiEdit(t, other, docs[i%2], i))
	}
	testwait.For(t, 60*time.Second, "every change delivered once, by the remaining node", func() error { return hr.check(want) })
}
