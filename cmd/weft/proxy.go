package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the reverse proxies (--trusted-proxies) whose
// X-Forwarded-For and X-Forwarded-Proto headers are believed. Anyone else
// can write those headers, so from any other peer they are ignored: the
// client is the TCP peer.
type trustedProxies []netip.Prefix

// parseTrustedProxies reads a comma-separated list of CIDRs (a bare
// address is a /32 or /128).
func parseTrustedProxies(s string) (trustedProxies, error) {
	var tp trustedProxies
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

func (tp trustedProxies) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range tp {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// client is who a request comes from, as far as the server can tell.
type client struct {
	ip    string // used for per-IP limits, strikes and bans, and audit lines
	https bool   // the browser's connection is TLS (here or at a trusted proxy)
}

type clientKey struct{}

// wrap resolves each request's client once and keeps it in the request's
// context for remoteIP and requestHTTPS (melody keeps the request, so the
// WebSocket session sees it too).
func (tp trustedProxies) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, tp.resolve(r))))
	})
}

// resolve finds the client of r. Only when the TCP peer is a trusted
// proxy are the forwarded headers read: X-Forwarded-For from the right,
// skipping trusted proxies, the first other address being the client
// (everything left of it was written by the client and proves nothing).
func (tp trustedProxies) resolve(r *http.Request) client {
	c := client{ip: peerIP(r), https: r.TLS != nil}
	peer, err := netip.ParseAddr(c.ip)
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
		c.ip = a.String()
		if !tp.contains(a) {
			break
		}
	}
	if vs := r.Header.Values("X-Forwarded-Proto"); len(vs) > 0 {
		// The nearest proxy's word: the last value.
		protos := strings.Split(vs[len(vs)-1], ",")
		c.https = strings.EqualFold(strings.TrimSpace(protos[len(protos)-1]), "https")
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

// remoteIP is the request's client address (see trustedProxies).
func remoteIP(r *http.Request) string {
	if c, ok := r.Context().Value(clientKey{}).(client); ok {
		return c.ip
	}
	return peerIP(r)
}

// requestHTTPS reports whether the client's connection is known to be
// TLS: served here with --tls-cert, or by a trusted proxy that says so.
func requestHTTPS(r *http.Request) bool {
	if c, ok := r.Context().Value(clientKey{}).(client); ok {
		return c.https
	}
	return r.TLS != nil
}

// peerIP is the address of the TCP peer.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
