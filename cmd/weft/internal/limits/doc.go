// Package limits holds the admission and rate limits of a node:
// Admission (which new WebSocket connections may start: an admission
// bucket, a total cap and a per-address cap), ConnRate (one connection's
// messages and bytes per second) and APILimiter (HTTP API calls per client
// address).
//
// Mutable state: Admission's counts and APILimiter's buckets are guarded
// by their own mutex (mu); a ConnRate belongs to one connection's read
// goroutine and is not safe for concurrent use.
package limits
