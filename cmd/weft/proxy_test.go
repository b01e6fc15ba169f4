package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/weft-dev/weft/session"
)

// On a real server: per-IP limits and audit lines count the forwarded
// client only when the peer is a trusted proxy; a spoofed X-Forwarded-For
// from anyone else changes nothing.
func TestTrustedProxyOnTheServer(t *testing.T) {
	const proxy, stranger = "127.0.0.2", "127.0.0.3"
	s := startServer(t, "", "--trusted-proxies", proxy+"/32", "--max-conns-per-ip", "2", "--admission-rate", "0")
	via := func(ip, xff string) dialOpts {
		return dialOpts{localIP: ip, header: http.Header{"X-Forwarded-For": {xff}}}
	}
	// Through the proxy: each forwarded client has its own two slots.
	for _, c := range []string{"198.51.100.1", "198.51.100.2"} {
		for i := 0; i < 2; i++ {
			dial(t, s, fmt.Sprintf("p-%s-%d", c, i), via(proxy, c))
		}
	}
	_, err := tryDial(s, "p-over", via(proxy, "198.51.100.1"))
	expectRefused(t, err, session.CloseTryAgainLater)
	if !strings.Contains(s.logs.String(), "remote=198.51.100.1") {
		t.Error("audit line does not name the forwarded client")
	}
	// A stranger spoofing a fresh X-Forwarded-For each time is still one
	// address.
	for i := 0; i < 2; i++ {
		dial(t, s, fmt.Sprintf("s-%d", i), via(stranger, fmt.Sprintf("192.0.2.%d", i+1)))
	}
	_, err = tryDial(s, "s-over", via(stranger, "192.0.2.99"))
	expectRefused(t, err, session.CloseTryAgainLater)
	logs := s.logs.String()
	if strings.Contains(logs, "remote=192.0.2.") {
		t.Error("a spoofed X-Forwarded-For from an untrusted peer reached the logs")
	}
	if !strings.Contains(logs, "audit=limit_max_conns_per_ip remote="+stranger) {
		t.Error("no audit line naming the stranger's own address")
	}
}

// The origin check knows the browser's scheme when a trusted proxy
// terminates TLS: a plain-http page of the same host may not connect.
func TestTrustedProxyHTTPSOrigin(t *testing.T) {
	const proxy = "127.0.0.2"
	s := startServer(t, "", "--trusted-proxies", proxy)
	host := strings.TrimPrefix(s.url, "http://")
	for _, tc := range []struct {
		from, origin string
		ok           bool
	}{
		{proxy, "https://" + host, true},
		{proxy, "http://" + host, false}, // the proxy says the page is https
		{"127.0.0.3", "http://" + host, true},
		{"127.0.0.3", "https://" + host, true}, // unknown scheme: host only, as before
	} {
		h := http.Header{"Origin": {tc.origin}, "X-Forwarded-Proto": {"https"}}
		c, err := tryDial(s, "origin-peer", dialOpts{localIP: tc.from, header: h})
		if c != nil {
			c.conn.Close()
		}
		if tc.ok != (err == nil) {
			t.Errorf("from %s, Origin %s: %v; want accepted=%v", tc.from, tc.origin, err, tc.ok)
		}
	}
}
