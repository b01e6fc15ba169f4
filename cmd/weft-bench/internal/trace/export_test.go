package trace

// The external tests (which use tracetest, itself importing this package)
// check the unexported steps too.
var (
	Splice = splice
	Diff   = diff
)
