// Package clientip decides who a request comes from: the TCP peer, or,
// behind a trusted reverse proxy (--trusted-proxies), the address and
// scheme that proxy reports. Wrap resolves it once per request and keeps
// it in the request's context; RemoteIP and HTTPS read it back. A
// TrustedProxies list is immutable once parsed: no locks.
package clientip
