package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/testwait"
)

// TestServeWebhooks: a server started with --webhooks signs and retries
// deliveries of API edits to a receiver on loopback, and lists them at
// /api/webhooks/deliveries.
func TestServeWebhooks(t *testing.T) {
	const secret = "hook-secret"
	var (
		mu       sync.Mutex
		bodies   []map[string]any
		attempts int
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify(secret, r.Header.Get("X-Weft-Timestamp"), body, r.Header.Get("X-Weft-Signature")) {
			t.Errorf("bad signature on delivery %s", r.Header.Get("X-Weft-Delivery"))
		}
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if attempts == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // the first attempt fails: retried
			return
		}
		var m map[string]any
		json.Unmarshal(body, &m)
		bodies = append(bodies, m)
	}))
	defer recv.Close()
	cfg := filepath.Join(t.TempDir(), "hooks.json")
	os.WriteFile(cfg, []byte(`{"debounce":"50ms","retryBase":"50ms","hooks":[{"url":"`+recv.URL+`","secret":"`+secret+`"}]}`), 0o600)
	s := startServer(t, "", "--webhooks", cfg)

	id := createDoc(t, s, map[string]any{"text": "a"})
	wantStatus(t, call(t, "POST", s.url+"/api/docs/"+id+"/changes", map[string]any{"message": "second", "ops": []any{
		map[string]any{"op": "splice", "path": "/text", "pos": 1, "insert": "b"}}}), 200, "edit")
	_, heads := docJSON(t, s, id, "")
	testwait.Until(t, 10*time.Second, "a delivery with the document's latest heads", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bodies {
			if b["documentId"] == id && b["heads"] == heads {
				return true
			}
		}
		return false
	})
	// The log records a delivery once the receiver's answer is in: poll it.
	var last []byte
	testwait.Until(t, 10*time.Second, "a delivered-after-retry entry in the delivery log", func() bool {
		r := call(t, "GET", s.url+"/api/webhooks/deliveries?doc="+id, nil)
		wantStatus(t, r, 200, "deliveries")
		last = r.body
		var log struct{ Deliveries []webhook.Delivery }
		json.Unmarshal(r.body, &log)
		retried := false
		for _, d := range log.Deliveries {
			if d.DocumentID != id || d.Type != "change" {
				t.Fatalf("delivery of another doc or type: %+v", d)
			}
			retried = retried || (d.Attempts >= 2 && d.Status == "delivered")
		}
		return retried
	})
	t.Logf("delivery log: %s", last)
}

// TestServeBackupRoute: GET /api/backup is admin-only and streams a
// consistent copy of the store holding the documents.
func TestServeBackupRoute(t *testing.T) {
	k := newKeys(t)
	s := startServer(t, "", "--auth", "jwt", "--jwt-secret-file", k.SecretFile)
	admin := "Bearer " + hsToken(t, "root", map[string]string{"*": "admin"})
	writer := "Bearer " + hsToken(t, "w", map[string]string{"*": "write"})
	id := createDoc(t, s, map[string]any{"text": "backed up"}, "Authorization", admin)

	wantStatus(t, call(t, "GET", s.url+"/api/backup", nil, "Authorization", writer), 403, "backup as a writer")
	wantStatus(t, call(t, "GET", s.url+"/api/webhooks/deliveries", nil, "Authorization", writer), 403, "deliveries as a writer")
	r := call(t, "GET", s.url+"/api/backup", nil, "Authorization", admin)
	wantStatus(t, r, 200, "backup")
	path := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(path, r.body, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := storage.OpenReadOnly(path, nil)
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	defer st.Close()
	if ok, err := st.Exists(id); err != nil || !ok {
		t.Fatalf("document %s not in the backup: %v", id, err)
	}
	if err := st.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestAPIRateLimit: past its burst, a client gets 429 with Retry-After;
// the description stays public when auth is on.
func TestAPIRateLimit(t *testing.T) {
	k := newKeys(t)
	s := startServer(t, "", "--auth", "jwt", "--jwt-secret-file", k.SecretFile, "--api-rate", "0.5", "--api-burst", "3")
	wantStatus(t, call(t, "GET", s.url+"/api/openapi.json", nil), 200, "openapi.json without a token")
	wantStatus(t, call(t, "GET", s.url+"/api/me", nil), 401, "me without a token")
	wantStatus(t, call(t, "GET", s.url+"/api/me", nil), 401, "me without a token again")
	r := call(t, "GET", s.url+"/api/me", nil)
	wantStatus(t, r, 429, "past the burst")
	if r.errCode(t) != "rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("429 without code or Retry-After: %v %s", r.header, r.body)
	}
	if code, _ := httpGet(t, s.url+"/healthz"); code != 200 {
		t.Fatal("health checks are not API calls and are never limited")
	}
}

// TestAPIBinaryConditional: the Automerge file honors If-None-Match.
func TestAPIBinaryConditional(t *testing.T) {
	s := startServer(t, "")
	id := createDoc(t, s, map[string]any{"text": "x"})
	r := call(t, "GET", s.url+"/api/docs/"+id+"/binary", nil)
	wantStatus(t, r, 200, "binary")
	wantStatus(t, call(t, "GET", s.url+"/api/docs/"+id+"/binary", nil, "If-None-Match", r.header.Get("ETag")), 304, "binary If-None-Match")
}

// TestPprofLoopbackOnly: the profiler is served on loopback only, on its
// own listener.
func TestPprofLoopbackOnly(t *testing.T) {
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--pprof", "0.0.0.0:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("--pprof on a public address: %v", err)
	}
	s := startServer(t, "", "--pprof", "127.0.0.1:0")
	if _, body := httpGet(t, s.url+"/debug/pprof/"); strings.Contains(body, "goroutine") {
		t.Fatal("the profiler answers on the public listener")
	}
	m := regexp.MustCompile(`msg="profiler listening" addr=(\S+)`).FindStringSubmatch(s.logs.String())
	if m == nil {
		t.Fatal("no profiler address in the log")
	}
	if code, body := httpGet(t, "http://"+m[1]+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("profiler on %s: %d", m[1], code)
	}
}
