// Package replay is weft-bench's trace mode: one writer replays a
// sequential editing trace, each transaction one Automerge change sent the
// way a client in sync sends a keystroke, to K light readers of one
// document; it measures delivered changes/s, writer-to-reader latency,
// bytes on the wire and the server's CPU and memory, and checks that every
// peer converged on the trace's text.
package replay
