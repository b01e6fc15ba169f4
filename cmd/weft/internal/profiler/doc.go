// Package profiler serves Go's net/http/pprof on a separate loopback
// listener (--pprof). It holds no state beyond its own http.Server, which
// the caller stops with the func Start returns.
package profiler
