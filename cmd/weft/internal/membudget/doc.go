// Package membudget reads --memory-budget (a size or a percentage) and
// finds the memory available to the process (the cgroup limit, else the
// machine's). It holds no state.
package membudget
