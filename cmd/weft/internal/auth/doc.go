// Package auth verifies the JWTs of WebSocket upgrades and API calls
// (--auth jwt: HS256 from a shared secret, RS256 and ES256 from PEM keys
// or a JWK set), turns their claims into a session.Auth (a role per
// document), carries that grant in a request's context, and mints the
// development tokens of "weft token".
//
// Mutable state: none. An Authenticator is built once from its key files
// and only read afterwards, by any number of request goroutines.
package auth
