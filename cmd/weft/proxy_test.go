package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/weft-dev/weft/session"
)

func TestTrustedProxyResolve(t *testing.T) {
	tp, err := parseTrustedProxies("10.0.0.0/8, 192.168.1.5 ,::1")
	must(t, err)
	for _, bad := range []string{"10.0.0.0/33", "nonsense", "10.0.0.0/8,x"} {
		if _, err := parseTrustedProxies(bad); err == nil {
			t.Errorf("parseTrustedProxies(%q) accepted", bad)
		}
	}
	for _, tc := range []struct {
		remote, xff, xfp string
		tls              bool
		ip               string
		https            bool
	}{
		// Untrusted peers: the headers are ignored, whatever they say.
		{remote: "203.0.113.9:5000", xff: "1.2.3.4", xfp: "https", ip: "203.0.113.9"},
		{remote: "203.0.113.9:5000", tls: true, xfp: "http", ip: "203.0.113.9", https: true},
		// A trusted proxy: the rightmost untrusted hop is the client.
		{remote: "10.1.2.3:5000", xff: "1.2.3.4", xfp: "https", ip: "1.2.3.4", https: true},
		{remote: "10.1.2.3:5000", xff: "6.6.6.6, 1.2.3.4", ip: "1.2.3.4"},
		{remote: "10.1.2.3:5000", xff: "6.6.6.6, 1.2.3.4, 10.9.9.9", ip: "1.2.3.4"},
		{remote: "192.168.1.5:5000", xff: "6.6.6.6", ip: "6.6.6.6"},
		{remote: "[::1]:5000", xff: "[2001:db8::1]:443", ip: "2001:db8::1"},
		{remote: "10.1.2.3:5000", xff: "1.2.3.4:8080", ip: "1.2.3.4"},
		{remote: "10.1.2.3:5000", xff: "::ffff:1.2.3.4", ip: "1.2.3.4"},
		// Garbage stops the walk at the last address read.
		{remote: "10.1.2.3:5000", xff: "garbage", ip: "10.1.2.3"},
		{remote: "10.1.2.3:5000", xff: "1.2.3.4, garbage, 10.0.0.7", ip: "10.0.0.7"},
		// Only trusted hops all the way: the leftmost one.
		{remote: "10.1.2.3:5000", xff: "10.0.0.1, 10.0.0.2", ip: "10.0.0.1"},
		{remote: "10.1.2.3:5000", ip: "10.1.2.3"},
		// The proxy nearest us has the last word on the scheme.
		{remote: "10.1.2.3:5000", xfp: "http, https", https: true, ip: "10.1.2.3"},
		{remote: "10.1.2.3:5000", xfp: "https, http", ip: "10.1.2.3"},
		{remote: "10.1.2.3:5000", tls: true, ip: "10.1.2.3", https: true},
		{remote: "192.168.1.6:5000", xff: "1.2.3.4", ip: "192.168.1.6"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.xfp != "" {
			r.Header.Set("X-Forwarded-Proto", tc.xfp)
		}
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		var got client
		tp.wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			got = client{ip: remoteIP(r), https: requestHTTPS(r)}
		})).ServeHTTP(httptest.NewRecorder(), r)
		if got.ip != tc.ip || got.https != tc.https {
			t.Errorf("remote %s XFF %q XFP %q tls %v: got %+v, want ip %s https %v", tc.remote, tc.xff, tc.xfp, tc.tls, got, tc.ip, tc.https)
		}
	}
	// Without the flag nothing is trusted.
	var none trustedProxies
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	if c := none.resolve(r); c.ip != "127.0.0.1" {
		t.Errorf("no trusted proxies: client %s", c.ip)
	}
}

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
