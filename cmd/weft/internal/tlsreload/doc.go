// Package tlsreload serves --tls-cert/--tls-key and reloads them on
// SIGHUP, so that a renewed certificate needs no restart. A failed reload
// keeps the previous certificate.
//
// Mutable state: the current certificate, an atomic pointer written by the
// one SIGHUP goroutine and read by every TLS handshake.
package tlsreload
