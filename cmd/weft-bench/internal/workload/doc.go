// Package workload holds what every mode of weft-bench shares: the
// configuration of one workload against one server, the result it
// measured (printed for people or encoded as JSON) and the latency
// percentiles.
package workload
