// Package compare is weft-bench's compare mode: it runs the same
// workloads (a flat-out trace replay, a typing-speed replay, idle
// connections) against a fresh reference Node sync server and a fresh
// weft, one server at a time, and prints the results side by side as
// Markdown tables.
package compare
