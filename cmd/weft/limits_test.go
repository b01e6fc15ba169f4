package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"

	"github.com/weft-dev/weft/cmd/weft/internal/api"
	"github.com/weft-dev/weft/storage/testwait"
)

// A browser on another site cannot open a WebSocket here (cross-site
// WebSocket hijacking), with or without a token; the same host can.
func TestCrossSiteUpgradeRefused(t *testing.T) {
	k := newKeys(t)
	s := startServer(t, "", "--auth", "jwt", "--jwt-secret-file", k.SecretFile, "--allowed-origins", "editor.example.org")
	tok := hsToken(t, "u", map[string]string{"*": "write"})
	host := strings.TrimPrefix(s.url, "http://")
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"http://evil.example", false},
		{"https://" + host + ".evil.example", false},
		{"null", false},
		{"http://" + host, true},
		{"https://editor.example.org", true},
	} {
		c, err := tryDial(s, "peer-origin", dialOpts{path: "/?token=" + tok, header: http.Header{"Origin": {tc.origin}}})
		if c != nil {
			c.conn.Close()
		}
		if tc.ok != (err == nil) {
			t.Errorf("Origin %s: err %v, want accepted=%v", tc.origin, err, tc.ok)
		}
		if !tc.ok && err != nil && !strings.Contains(err.Error(), "bad handshake") {
			t.Errorf("Origin %s: %v, want an HTTP refusal", tc.origin, err)
		}
	}
}

// labeled returns the value of a labeled metric line (name{labels} value).
func labeled(body, name, labels string) float64 {
	return metricValue(strings.ReplaceAll(body, name+"{"+labels+"}", name), name)
}

// A client flooding messages is throttled, then cut with 4006, while
// another client on the same server keeps syncing with low latency.
func TestFloodingClientThrottledOthersKeepSyncing(t *testing.T) {
	s := startServer(t, "", "--conn-msg-rate", "100", "--conn-msg-burst", "100", "--ephemeral-rate", "20")
	doc := crdt.NewDocumentID()
	a := dial(t, s, "honest-a", dialOpts{})
	b := dial(t, s, "honest-b", dialOpts{})
	must(t, a.edit(doc, 0, 0, "x"))
	must(t, b.open(doc))
	testwait.Until(t, 5*time.Second, "b to load", func() bool { return b.text(doc) == "x" })

	flood := dial(t, s, "flooder", dialOpts{localIP: "127.0.0.9"})
	must(t, flood.open(doc))
	stop := make(chan struct{})
	defer close(stop)
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for ; n < 5000; n++ {
			select {
			case <-stop:
				return
			case <-flood.closed:
				return
			default:
			}
			if flood.send(session.Message{Type: session.TypeEphemeral, SenderID: "flooder", DocumentID: doc,
				SessionID: "s", Count: uint64(n + 1), Data: []byte{0xa0}}) != nil {
				return
			}
		}
	}()
	// Meanwhile a and b keep editing and seeing each other's edits.
	var worst time.Duration
	want := "x"
	for i := 0; i < 20; i++ {
		w := fmt.Sprintf(" %d", i)
		start := time.Now()
		must(t, a.edit(doc, len(want), 0, w))
		want += w
		testwait.Until(t, 5*time.Second, "b to see a's edit during the flood", func() bool { return b.text(doc) == want })
		worst = max(worst, time.Since(start))
		// Not synchronization: a typist's pace, so the 20 edits span the flood.
		time.Sleep(50 * time.Millisecond)
	}
	if worst > time.Second {
		t.Errorf("worst edit latency during the flood: %v", worst)
	}
	select {
	case <-flood.closed:
	case <-time.After(15 * time.Second):
		t.Fatal("flooder not disconnected")
	}
	expectRefused(t, flood.closeErr, session.CloseRateLimited)
	t.Logf("flooder sent %d messages before the cut; worst honest latency %v", <-sent, worst)
	_, m := httpGet(t, s.url+"/metrics")
	for _, reason := range []string{"message_rate", "ephemeral_rate"} {
		if labeled(m, "weft_refused_total", `reason="`+reason+`"`) == 0 {
			t.Errorf("weft_refused_total{reason=%q} not counted", reason)
		}
	}
	if !strings.Contains(s.logs.String(), "audit=limit_message_rate") {
		t.Error("no audit line for the rate limit")
	}
	// The honest clients are still connected.
	must(t, a.edit(doc, len(want), 0, "!"))
	testwait.Until(t, 5*time.Second, "b after the flood", func() bool { return b.text(doc) == want+"!" })
}

// A thousand connections from one address: only --max-conns-per-ip get in,
// the rest are upgraded and closed with 4005; other addresses still can.
func TestConnectionsPerAddressCapped(t *testing.T) {
	const perIP = 20
	s := startServer(t, "", "--max-conns-per-ip", fmt.Sprint(perIP), "--admission-rate", "0")
	var kept []*wsClient
	refused := 0
	for i := 0; i < 1000; i++ {
		c, err := tryDial(s, fmt.Sprintf("many-%d", i), dialOpts{localIP: "127.0.0.7"})
		if err != nil {
			expectRefused(t, err, session.CloseTryAgainLater)
			refused++
			continue
		}
		kept = append(kept, c)
	}
	defer func() {
		for _, c := range kept {
			c.conn.Close()
		}
	}()
	if len(kept) != perIP || refused != 1000-perIP {
		t.Fatalf("accepted %d, refused %d; want %d accepted", len(kept), refused, perIP)
	}
	other := dial(t, s, "other-address", dialOpts{localIP: "127.0.0.8"})
	must(t, other.edit(crdt.NewDocumentID(), 0, 0, "still serving"))
	// A slot freed is a slot taken.
	kept[0].conn.Close()
	testwait.Until(t, 5*time.Second, "a freed slot", func() bool {
		c, err := tryDial(s, "late", dialOpts{localIP: "127.0.0.7"})
		if err != nil {
			return false
		}
		kept = append(kept, c)
		return true
	})
	_, m := httpGet(t, s.url+"/metrics")
	if got := labeled(m, "weft_refused_total", `reason="max_conns_per_ip"`); got < 1000-perIP {
		t.Errorf("weft_refused_total{max_conns_per_ip} = %v", got)
	}
}

func TestTotalConnectionsAndAdmissionRate(t *testing.T) {
	s := startServer(t, "", "--max-conns", "3", "--admission-rate", "0")
	for i := 0; i < 3; i++ {
		dial(t, s, fmt.Sprintf("c%d", i), dialOpts{localIP: fmt.Sprintf("127.0.1.%d", i+1)})
	}
	_, err := tryDial(s, "c4", dialOpts{localIP: "127.0.1.9"})
	expectRefused(t, err, session.CloseTryAgainLater)

	s2 := startServer(t, "", "--admission-rate", "2", "--admission-burst", "3")
	ok, refused := 0, 0
	for i := 0; i < 10; i++ {
		c, err := tryDial(s2, fmt.Sprintf("r%d", i), dialOpts{})
		if err != nil {
			expectRefused(t, err, session.CloseTryAgainLater)
			refused++
			continue
		}
		c.conn.Close()
		ok++
	}
	if ok < 3 || refused == 0 {
		t.Fatalf("admission: %d admitted, %d refused", ok, refused)
	}
	// Refused clients come back later and get in.
	testwait.Until(t, 5*time.Second, "admission after a pause", func() bool {
		c, err := tryDial(s2, "later", dialOpts{})
		if err == nil {
			c.conn.Close()
		}
		return err == nil
	})
}

func TestDocumentsPerConnectionCapped(t *testing.T) {
	s := startServer(t, "", "--max-docs-per-conn", "3")
	c := dial(t, s, "hoarder", dialOpts{})
	for i := 0; i < 4; i++ {
		if err := c.open(crdt.NewDocumentID()); err != nil {
			break
		}
	}
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("not closed after opening too many documents")
	}
	expectRefused(t, c.closeErr, session.CloseTooManyDocs)
}

// --frame-ancestors reaches the editor pages' CSP; API bodies are bounded.
func TestHardeningHeadersAndBodyLimit(t *testing.T) {
	s := startServer(t, "", "--frame-ancestors", "https://portal.example.com")
	resp, err := http.Get(s.url + "/d/" + crdt.NewDocumentID())
	must(t, err)
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://portal.example.com") {
		t.Errorf("CSP %q lacks the configured frame-ancestors", csp)
	}
	if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
	big := strings.NewReader(strings.Repeat("x", api.MaxBody+1))
	resp, err = http.Post(s.url+"/api/anything", "application/json", big)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("oversized API body: %d", resp.StatusCode)
		}
	}
}
