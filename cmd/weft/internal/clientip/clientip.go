package clientip

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// TrustedProxies are the reverse proxies (--trusted-proxies) whose
// X-Forwarded-For and X-Forwarded-Proto headers are believed. Anyone else
// can write those headers, so from any other peer they are ignored: the
// client is the TCP peer.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads a comma-separated list of CIDRs (a bare
// address is a /32 or /128).
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var tp TrustedProxies
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(f, "/") {
			var err error
			if p, err = netip.ParsePrefix(f); err != nil {
				return nil, fmt.Errorf("--trusted-proxies: %w", err)
			}
		} else {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("--trusted-proxies: %w", err)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		tp = append(tp, p.Masked())
	}
	return tp, nil
}

func (tp TrustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is who a request comes from, as far as the server can tell.
type Client struct {
	IP    string // used for per-IP limits, strikes and bans, and audit lines
	HTTPS bool   // the browser's connection is TLS (here or at a trusted proxy)
}

type clientKey struct{}

// Wrap resolves each request's client once and keeps it in the request's
// context for RemoteIP and HTTPS (melody keeps the request, so the
// WebSocket session sees it too).
func (tp TrustedProxies) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, tp.Resolve(r))))
	})
}

// Resolve finds the client of r. Only when the TCP peer is a trusted
// proxy are the forwarded headers read: X-Forwarded-For from the right,
// skipping trusted proxies, the first other address being the client
// (everything left of it was written by the client and proves nothing).
func (tp TrustedProxies) Resolve(r *http.Request) Client {
	c := Client{IP: PeerIP(r), HTTPS: r.TLS != nil}
	peer, err := netip.ParseAddr(c.IP)
	if err != nil || !tp.contains(peer) {
		return c
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(hops[i])
		if err != nil {
			break // garbage: the last address walked stands
		}
		c.IP = a.String()
		if !tp.contains(a) {
			break
		}
	}
	if vs := r.Header.Values("X-Forwarded-Proto"); len(vs) > 0 {
		// The nearest proxy's word: the last value.
		protos := strings.Split(vs[len(vs)-1], ",")
		c.HTTPS = strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
	}
	return c
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port or in brackets.
func parseHop(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("bad X-Forwarded-For entry %q", s)
	}
	return a.Unmap(), nil
}

// RemoteIP is the request's client address (see TrustedProxies).
func RemoteIP(r *http.Request) string {
	if c, ok := r.Context().Value(clientKey{}).(Client); ok {
		return c.IP
	}
	return PeerIP(r)
}

// HTTPS reports whether the client's connection is known to be TLS:
// served here with --tls-cert, or by a trusted proxy that says so.
func HTTPS(r *http.Request) bool {
	if c, ok := r.Context().Value(clientKey{}).(Client); ok {
		return c.HTTPS
	}
	return r.TLS != nil
}

// PeerIP is the address of the TCP peer.
func PeerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
