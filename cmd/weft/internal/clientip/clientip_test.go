package clientip

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTrustedProxyResolve(t *testing.T) {
	tp, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.5 ,::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"10.0.0.0/33", "nonsense", "10.0.0.0/8,x"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", bad)
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
		var got Client
		tp.Wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			got = Client{IP: RemoteIP(r), HTTPS: HTTPS(r)}
		})).ServeHTTP(httptest.NewRecorder(), r)
		if got.IP != tc.ip || got.HTTPS != tc.https {
			t.Errorf("remote %s XFF %q XFP %q tls %v: got %+v, want ip %s https %v", tc.remote, tc.xff, tc.xfp, tc.tls, got, tc.ip, tc.https)
		}
	}
	// Without the flag nothing is trusted.
	var none TrustedProxies
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	if c := none.Resolve(r); c.IP != "127.0.0.1" {
		t.Errorf("no trusted proxies: client %s", c.IP)
	}
}
