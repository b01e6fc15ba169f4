// Package procstat reads a server's CPU time and resident memory from
// /proc, summed over the process and its descendants (weft runs Automerge
// in worker processes, so a server is a process tree), once or sampled
// through a run.
package procstat
