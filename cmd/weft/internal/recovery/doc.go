// Package recovery turns a panic in an HTTP handler into a logged stack,
// a counted event and a 500 with the project's JSON error body, so that
// one bad request cannot take the node down (net/http would only log it
// and cut the connection). WebSocket connections, served off net/http's
// goroutines, recover their own panics in wstransport.
//
// Mutable state: none shared; each request's writeTracker belongs to that
// request's goroutine.
package recovery
