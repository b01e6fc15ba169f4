// Package cluster is weft-bench's cluster mode: it starts nats-server
// with JetStream (one server, or a cluster of three) and weft nodes on it,
// and measures what a cluster costs against a single node on bbolt: the
// trace replay's throughput with the writer on one node and the readers on
// another, typing latency across nodes, and the first full sync of a big
// document on a node that never saw it. It prints one Markdown table (or
// JSON).
package cluster
