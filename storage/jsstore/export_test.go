package jsstore

// SetCrashAfter makes compactions stop dead after the steps f names (see crashAfter); it
// returns a function that restores normal compactions. Call it while no compaction runs.
func SetCrashAfter(f func(step string) bool) (restore func()) {
	crashAfter = f
	return func() { crashAfter = nil }
}

// ErrCrashed is the error of a compaction stopped by SetCrashAfter.
var ErrCrashed = errCrashed
