// Package authtest holds the keys and token helpers that the tests of
// auth and of the weft command share: fresh keys, fixed keys for fuzz
// seeds (valid until 2100), JWK sets and signed tokens. Test keys only.
package authtest
