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
	"testing"
	"time"

	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
	"github.com/weft-dev/weft/storage/testwait"
)

// hookReceiver counts the changes of deliveries by hash.
type hookReceiver struct {
	mu   sync.Mutex
	seen map[string]int
}

func (hr *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

// In a cluster each change is delivered once per hook whichever node it went through, though
// both nodes have both documents open.
func TestClusterWebhooksOnce(t *testing.T) {
	js := jstest.NewCluster(t, 3)
	hr := &hookReceiver{seen: map[string]int{}}
	recv := httptest.NewServer(hr)
	defer recv.Close()
	cfg := filepath.Join(t.TempDir(), "hooks.json")
	os.WriteFile(cfg, []byte(`{"debounce":"50ms","retryBase":"50ms","retryMax":"200ms","maxAttempts":100000,`+
		`"hooks":[{"url":"`+recv.URL+`","secret":"s"}]}`), 0o600)
	nodes := []*server{
		startNode(t, js.URLs(), "", "--webhooks", cfg),
		startNode(t, js.URLs(), "", "--webhooks", cfg),
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
	// And no second delivery follows from the node that merged the change
	// from the log (its debounce is 50 ms): an absence, watched for a while.
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err := hr.check(want); err != nil {
			t.Fatal(err)
		}
	}
}
