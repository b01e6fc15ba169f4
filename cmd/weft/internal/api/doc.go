// Package api is weft's HTTP API for programs (/api/…): documents,
// server-side edits, history, versions, change feeds (Server-Sent Events)
// and sync without WebSockets, described by openapi.json (embedded,
// served at /api/openapi.json). Every call passes the guard (rate limit,
// authentication like an upgrade, no cross-site writes, bounded bodies)
// and is authorized per document with the token's roles; a document the
// caller may not read is a 404, exactly like a missing one. Heads appear
// in one form everywhere: comma-separated hex hashes (JSON strings, ?at=,
// ETag, X-Weft-Heads, If-Match).
//
// Mutable state: none of its own. Handlers run on the HTTP server's
// goroutines and share only what session.Manager guards; an event stream's
// channel belongs to its request.
package api
