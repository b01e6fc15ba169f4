package webhook_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage/testwait"
)

const secret = "test-secret-0123456789abcdef"

// request is one request the receiver got.
type request struct {
	header  http.Header
	body    []byte
	payload webhook.Payload
	ok      bool // signature verified
}

// receiver is a webhook endpoint: on loopback (newReceiver) or on a
// pipeNet (newPipeReceiver). respond picks the status of the n-th request
// (1-based); nil answers 200.
type receiver struct {
	t       *testing.T
	url     string
	mu      sync.Mutex
	reqs    []request
	respond func(n int, p webhook.Payload) int
	got     chan struct{}
}

// newReceiver serves a receiver on a loopback port.
func newReceiver(t *testing.T, respond func(n int, p webhook.Payload) int) *receiver {
	r := &receiver{t: t, respond: respond, got: make(chan struct{}, 1024)}
	srv := httptest.NewServer(r.handler())
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// newPipeReceiver serves a receiver at http://host/ on pn, for tests in a
// synctest bubble.
func newPipeReceiver(t *testing.T, pn *pipeNet, host string, respond func(n int, p webhook.Payload) int) *receiver {
	r := &receiver{t: t, respond: respond, got: make(chan struct{}, 1024)}
	pn.serve(t, host+":80", r.handler())
	r.url = "http://" + host
	return r
}

func (r *receiver) handler() http.Handler {
	t := r.t
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Errorf("receiver: %v", err)
		}
		rq := request{header: req.Header.Clone(), body: body}
		rq.ok = webhook.Verify(secret, req.Header.Get(webhook.HeaderTimestamp), body, req.Header.Get(webhook.HeaderSignature))
		if err := json.Unmarshal(body, &rq.payload); err != nil {
			t.Errorf("receiver: payload %s: %v", body, err)
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, rq)
		n := len(r.reqs)
		r.mu.Unlock()
		code := http.StatusOK
		if r.respond != nil {
			code = r.respond(n, rq.payload)
		}
		w.WriteHeader(code)
		r.got <- struct{}{}
	})
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.reqs...)
}

// wait waits for n requests in all.
func (r *receiver) wait(n int) []request {
	r.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if rs := r.requests(); len(rs) >= n {
			return rs
		}
		select {
		case <-r.got:
		case <-deadline:
			r.t.Fatalf("receiver: %d requests after 10s, want %d", len(r.requests()), n)
		}
	}
}

// fast is a configuration whose timers suit tests.
func fast(hooks ...webhook.Hook) webhook.Config {
	return webhook.Config{Hooks: hooks, Debounce: 50 * time.Millisecond, Timeout: 2 * time.Second,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, MaxAttempts: 5}
}

func newDispatcher(t *testing.T, cfg webhook.Config, opts ...webhook.Option) *webhook.Dispatcher {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := webhook.New(cfg, nil, opts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Close(ctx)
	})
	return d
}

func hash(s string) crdt.Hash { return sha256.Sum256([]byte(s)) }

// change returns a change event for doc carrying changes named names.
func change(doc string, names ...string) session.Event {
	ev := session.Event{Type: session.EventChange, Doc: doc, Time: time.Now()}
	var prev crdt.Heads
	for i, n := range names {
		ev.Changes = append(ev.Changes, crdt.ChangeMeta{Hash: hash(n), Actor: "aa01", Seq: uint64(i + 1),
			Time: time.Unix(1700000000, 0), Message: n, Deps: prev, Size: 10})
		prev = crdt.Heads{hash(n)}
	}
	ev.Heads = prev
	return ev
}

func messages(ps ...webhook.Payload) []string {
	var out []string
	for _, p := range ps {
		for _, c := range p.Changes {
			out = append(out, c.Message)
		}
	}
	return out
}

func TestSignedDelivery(t *testing.T) {
	rcv := newReceiver(t, nil)
	d := newDispatcher(t, fast(webhook.Hook{URL: rcv.url + "/hook", Secret: secret}))
	d.Handle(change("docA", "c1"))
	r := rcv.wait(1)[0]
	if !r.ok {
		t.Fatalf("signature %q does not verify", r.header.Get(webhook.HeaderSignature))
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	p := r.payload
	if p.ID == "" || r.header.Get(webhook.HeaderDelivery) != p.ID {
		t.Errorf("delivery id %q, header %q", p.ID, r.header.Get(webhook.HeaderDelivery))
	}
	if p.Type != "change" || p.DocumentID != "docA" || r.header.Get(webhook.HeaderEvent) != "change" {
		t.Errorf("payload %+v", p)
	}
	h := hash("c1")
	if len(p.Heads) != 1 || p.Heads[0] != h || len(p.Changes) != 1 || p.Changes[0].Hash != h ||
		p.Changes[0].Seq != 1 || p.Changes[0].Actor != "aa01" || p.Changes[0].Time.IsZero() {
		t.Errorf("payload %s", r.body)
	}
	// Any change to body, timestamp or secret breaks the signature.
	ts, sig := r.header.Get(webhook.HeaderTimestamp), r.header.Get(webhook.HeaderSignature)
	if !strings.HasPrefix(sig, "sha256=") {
		t.Errorf("signature %q", sig)
	}
	if webhook.Verify(secret, ts+"1", r.body, sig) || webhook.Verify("other", ts, r.body, sig) ||
		webhook.Verify(secret, ts, append(r.body, ' '), sig) {
		t.Error("a tampered delivery verifies")
	}
	// VerifyRequest: the receiver-side check, with the replay window.
	req := httptest.NewRequest("POST", "/hook", strings.NewReader(string(r.body)))
	req.Header = r.header
	if _, err := webhook.VerifyRequest(req, secret, 1<<20, 5*time.Minute); err != nil {
		t.Errorf("VerifyRequest: %v", err)
	}
	old := r.header.Clone()
	oldTS := "1700000000"
	old.Set(webhook.HeaderTimestamp, oldTS)
	old.Set(webhook.HeaderSignature, webhook.Sign(secret, oldTS, r.body))
	req = httptest.NewRequest("POST", "/hook", strings.NewReader(string(r.body)))
	req.Header = old
	if _, err := webhook.VerifyRequest(req, secret, 1<<20, 5*time.Minute); err == nil {
		t.Error("VerifyRequest accepts a replayed old timestamp")
	}

	testwait.Until(t, testwait.Timeout, "the delivery logged as delivered on the first attempt", func() bool {
		ds := d.Deliveries("docA", 0)
		return len(ds) == 1 && ds[0].Status == webhook.StatusDelivered && ds[0].Attempts == 1 && ds[0].StatusCode == 200
	})
}

func TestDebounceMergesChangesPerDocument(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet(t)
		rcv := newPipeReceiver(t, pn, "hook.test", nil)
		cfg := fast(webhook.Hook{URL: rcv.url, Secret: secret})
		cfg.Debounce = 300 * time.Millisecond
		d := newDispatcher(t, cfg, webhook.WithHTTPClient(pn.client()))
		start := time.Now()
		for i, n := range []string{"a1", "a2", "a3", "a4"} {
			ev := change("docA", n)
			ev.Changes[0].Seq = uint64(i + 1)
			d.Handle(ev)
			d.Handle(change("docB", "b"+n))
		}
		rs := rcv.wait(2)
		if el := time.Since(start); el < 250*time.Millisecond {
			t.Errorf("delivered after %s, before the debounce window", el)
		}
		// Fake time in the bubble: a further window and more pass with no
		// delivery; Wait lets every goroutine the timers woke run first.
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		if rs = rcv.requests(); len(rs) != 2 {
			t.Fatalf("%d deliveries, want one per document", len(rs))
		}
		byDoc := map[string]webhook.Payload{}
		for _, r := range rs {
			byDoc[r.payload.DocumentID] = r.payload
		}
		if got := strings.Join(messages(byDoc["docA"]), ","); got != "a1,a2,a3,a4" {
			t.Errorf("docA changes %s", got)
		}
		if h := hash("a4"); len(byDoc["docA"].Heads) != 1 || byDoc["docA"].Heads[0] != h {
			t.Errorf("docA heads %v, want the latest", byDoc["docA"].Heads)
		}
		if got := strings.Join(messages(byDoc["docB"]), ","); got != "ba1,ba2,ba3,ba4" {
			t.Errorf("docB changes %s", got)
		}
		// A later change opens a new window.
		d.Handle(change("docA", "a5"))
		rs = rcv.wait(3)
		if got := strings.Join(messages(rs[2].payload), ","); got != "a5" {
			t.Errorf("third delivery %s", got)
		}
	})
}

func TestRetriesAfterServerErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet(t)
		rcv := newPipeReceiver(t, pn, "hook.test", func(n int, _ webhook.Payload) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		})
		d := newDispatcher(t, fast(webhook.Hook{URL: rcv.url, Secret: secret}), webhook.WithHTTPClient(pn.client()))
		d.Handle(change("docA", "c1"))
		rs := rcv.wait(3)
		for _, r := range rs {
			if r.payload.ID != rs[0].payload.ID || !r.ok {
				t.Errorf("retry with id %s (first %s), signature ok %v", r.payload.ID, rs[0].payload.ID, r.ok)
			}
		}
		testwait.Until(t, testwait.Timeout, "the delivery logged as delivered on the third attempt", func() bool {
			ds := d.Deliveries("", 10)
			return len(ds) == 1 && ds[0].Status == webhook.StatusDelivered && ds[0].Attempts == 3 && ds[0].StatusCode == 204 && ds[0].Error == ""
		})
		// Fake time: twice RetryMax passes with no further request.
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if n := len(rcv.requests()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
	})
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet(t)
		rcv := newPipeReceiver(t, pn, "hook.test", func(int, webhook.Payload) int { return http.StatusBadGateway })
		cfg := fast(webhook.Hook{URL: rcv.url, Secret: secret})
		cfg.MaxAttempts = 3
		d := newDispatcher(t, cfg, webhook.WithHTTPClient(pn.client()))
		d.Handle(change("docA", "c1"))
		rcv.wait(3)
		testwait.Until(t, testwait.Timeout, "the delivery logged as failed after three attempts", func() bool {
			ds := d.Deliveries("docA", 0)
			return len(ds) == 1 && ds[0].Status == webhook.StatusFailed && ds[0].Attempts == 3 && ds[0].StatusCode == 502 &&
				strings.Contains(ds[0].Error, "502")
		})
		// Fake time: three times RetryMax passes with no fourth attempt.
		time.Sleep(150 * time.Millisecond)
		synctest.Wait()
		if n := len(rcv.requests()); n != 3 {
			t.Errorf("%d requests, want 3", n)
		}
		// The next batch of the document is delivered (with its own id).
		d.Handle(change("docA", "c2"))
		rs := rcv.wait(4)
		if rs[3].payload.ID == rs[0].payload.ID || strings.Join(messages(rs[3].payload), ",") != "c2" {
			t.Errorf("next delivery %s", rs[3].body)
		}
	})
}

func TestOrderPerHookAndDocument(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The receiver fails the first three requests: later batches must wait
		// for the first, and arrive after it, merged or not.
		pn := newPipeNet(t)
		rcv := newPipeReceiver(t, pn, "hook.test", func(n int, _ webhook.Payload) int {
			if n <= 3 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		cfg := fast(webhook.Hook{URL: rcv.url, Secret: secret})
		cfg.Debounce = 10 * time.Millisecond
		cfg.RetryBase, cfg.RetryMax = 100*time.Millisecond, 100*time.Millisecond
		d := newDispatcher(t, cfg, webhook.WithHTTPClient(pn.client()))
		var want []string
		for i := range 6 {
			n := string(rune('a' + i))
			want = append(want, n)
			d.Handle(change("docA", n))
			// Not synchronization: fake time in the bubble, 40ms between
			// changes puts each in its own 10ms debounce window.
			time.Sleep(40 * time.Millisecond)
		}
		testwait.Until(t, testwait.Timeout, "every change delivered after the failures", func() bool {
			var got []webhook.Payload
			for _, r := range rcv.requests()[3:] {
				got = append(got, r.payload)
			}
			return strings.Join(messages(got...), ",") == strings.Join(want, ",")
		})
		// Delivered, in order, with no change twice among the successes.
		rs := rcv.requests()
		if rs[0].payload.ID != rs[3].payload.ID || strings.Join(messages(rs[3].payload), ",") != "a" {
			t.Errorf("the first batch was not retried first: %s", rs[3].body)
		}
		if len(rs) == 3+6 {
			t.Errorf("waiting batches were not merged: %d requests", len(rs))
		}
	})
}

func TestCloseFlushesPendingWindows(t *testing.T) {
	rcv := newReceiver(t, nil)
	cfg := fast(webhook.Hook{URL: rcv.url, Secret: secret})
	cfg.Debounce = time.Hour
	d := webhook.New(cfg, nil)
	d.Handle(change("docA", "a1"))
	d.Handle(change("docA", "a2"))
	d.Handle(change("docB", "b1"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rs := rcv.requests() // all delivered before Close returned
	if len(rs) != 2 {
		t.Fatalf("%d deliveries after Close, want 2", len(rs))
	}
	d.Handle(change("docA", "a3")) // ignored after Close
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if ds := d.Deliveries("", 0); len(ds) != 2 {
		t.Errorf("%d logged deliveries", len(ds))
	}
}

func TestCloseAbortsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet(t)
		rcv := newPipeReceiver(t, pn, "hook.test", func(int, webhook.Payload) int { return http.StatusInternalServerError })
		cfg := fast(webhook.Hook{URL: rcv.url, Secret: secret})
		cfg.RetryBase, cfg.RetryMax, cfg.MaxAttempts = time.Hour, time.Hour, 10
		d := webhook.New(cfg, nil, webhook.WithHTTPClient(pn.client()))
		d.Handle(change("docA", "a1"))
		rcv.wait(1)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		// Fake time: Close must end with its context (100ms), not wait out the
		// hour-long retry.
		start := time.Now()
		if err := d.Close(ctx); err == nil {
			t.Fatal("Close returned nil with a delivery left")
		}
		if el := time.Since(start); el > 2*time.Second {
			t.Errorf("Close took %s", el)
		}
		if ds := d.Deliveries("", 0); len(ds) != 1 || ds[0].Status != webhook.StatusAborted {
			t.Errorf("log %+v", ds)
		}
	})
}

func TestEventsAndDocsFilterAndPresenceOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pn := newPipeNet(t)
		rcv := newPipeReceiver(t, pn, "all.test", nil)
		only := newPipeReceiver(t, pn, "only.test", nil)
		cfg := fast(
			webhook.Hook{URL: rcv.url, Secret: secret, Events: []string{"change", "join", "leave"}},
			webhook.Hook{URL: only.url, Secret: secret, Events: []string{"join"}, Docs: []string{"docB"}},
		)
		cfg.Debounce = time.Hour
		d := newDispatcher(t, cfg, webhook.WithHTTPClient(pn.client()))
		d.Handle(change("docA", "a1"))
		// A join flushes the document's pending changes first.
		d.Handle(session.Event{Type: session.EventJoin, Doc: "docA", Peer: "peer-1", User: "ann", Time: time.Now()})
		d.Handle(session.Event{Type: session.EventLeave, Doc: "docA", Peer: "peer-1", User: "ann", Time: time.Now()})
		d.Handle(session.Event{Type: session.EventJoin, Doc: "docB", Peer: "peer-2", Time: time.Now()})
		rs := rcv.wait(4)
		var got []string
		var join request
		for _, r := range rs {
			if r.payload.DocumentID == "docA" {
				got = append(got, r.payload.Type)
				if r.payload.Type == "join" {
					join = r
				}
			}
		}
		if strings.Join(got, ",") != "change,join,leave" {
			t.Errorf("docA events %v", got)
		}
		if p := join.payload; p.PeerID != "peer-1" || p.User != "ann" || len(p.Changes) != 0 {
			t.Errorf("join payload %s", join.body)
		}
		first := only.wait(1)
		// Fake time: the other hook's deliveries are long done (4 requests
		// above), and no second request reaches the filtered one.
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		if len(only.requests()) != 1 || first[0].payload.DocumentID != "docB" || first[0].payload.Type != "join" {
			t.Errorf("filtered hook got %d requests, first %s", len(only.requests()), first[0].body)
		}
	})
}

func TestRedirectsNotFollowed(t *testing.T) {
	target := newReceiver(t, nil)
	redir := httptest.NewServer(http.RedirectHandler(target.url, http.StatusTemporaryRedirect))
	t.Cleanup(redir.Close)
	cfg := fast(webhook.Hook{URL: redir.URL + "/x?token=hidden", Secret: secret})
	cfg.MaxAttempts = 2
	d := newDispatcher(t, cfg)
	d.Handle(change("docA", "a1"))
	testwait.Until(t, testwait.Timeout, "the redirect logged as a failure", func() bool {
		ds := d.Deliveries("", 0)
		return len(ds) == 1 && ds[0].Status == webhook.StatusFailed && ds[0].StatusCode == 307
	})
	if n := len(target.requests()); n != 0 {
		t.Errorf("redirect followed: target got %d requests", n)
	}
	if h := d.Deliveries("", 0)[0].Hook; strings.Contains(h, "hidden") {
		t.Errorf("log shows the URL's query: %s", h)
	}
}

func TestHandleNeverBlocks(t *testing.T) {
	block := make(chan struct{})
	rcv := newReceiver(t, func(int, webhook.Payload) int { <-block; return 200 })
	defer close(block)
	cfg := fast(webhook.Hook{URL: rcv.url, Secret: secret})
	cfg.QueueSize, cfg.MaxQueued, cfg.Debounce = 8, 4, time.Millisecond
	d := webhook.New(cfg, nil)
	start := time.Now()
	for i := range 20000 {
		d.Handle(change("doc"+string(rune('A'+i%50)), "x"))
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("20000 Handle calls took %s with a stuck receiver", el)
	}
	testwait.Until(t, testwait.Timeout, "a dropped delivery", func() bool {
		for _, dl := range d.Deliveries("", 0) {
			if dl.Status == webhook.StatusDropped {
				return true
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	d.Close(ctx)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("hook.secret", "  s3cret-from-file\n")
	cfg, err := webhook.Load(write("ok.json", `{"hooks": [
		{"url": "https://example.com/h", "secretFile": "hook.secret", "events": ["change", "leave"], "docs": ["*"]},
		{"url": "http://127.0.0.1:9/x", "secret": "inline"}],
		"debounce": "2s", "maxAttempts": 3, "retryBase": "100ms"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Hooks) != 2 || cfg.Hooks[0].Secret != "s3cret-from-file" || cfg.Debounce != 2*time.Second ||
		cfg.MaxAttempts != 3 || cfg.RetryBase != 100*time.Millisecond {
		t.Errorf("config %+v", cfg)
	}
	cfg, err = webhook.Load(write("array.json", `[{"url": "http://localhost:1/", "secret": "x"}]`))
	if err != nil || len(cfg.Hooks) != 1 {
		t.Errorf("array form: %+v, %v", cfg, err)
	}
	for name, tc := range map[string]struct{ json, want string }{
		"scheme":   {`[{"url": "ftp://example.com/", "secret": "x"}]`, "http:// or https://"},
		"nohost":   {`[{"url": "http:///path", "secret": "x"}]`, "no host"},
		"nosecret": {`[{"url": "https://example.com/"}]`, "secret"},
		"both":     {`[{"url": "https://example.com/", "secret": "x", "secretFile": "hook.secret"}]`, "not both"},
		"missing":  {`[{"url": "https://example.com/", "secretFile": "nope"}]`, "secretFile"},
		"event":    {`[{"url": "https://example.com/", "secret": "x", "events": ["edit"]}]`, `unknown event "edit"`},
		"field":    {`{"hooks": [{"url": "https://example.com/", "secret": "x", "evnts": ["join"]}]}`, "unknown field"},
		"duration": {`{"hooks": [], "debounce": "soon"}`, "debounce"},
		"json":     {`{"hooks": [`, "invalid JSON"},
	} {
		_, err := webhook.Load(write(name+".json", tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tc.want)
		}
	}
	if _, err := webhook.Load(filepath.Join(dir, "absent.json")); err == nil {
		t.Error("a missing file loads")
	}
}
