package jsstore_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/weft-dev/weft/storage/jsstore/jstest"
)

// TestMain fails the run if a test leaves a goroutine behind, but for NATS's own
// (jstest.IgnoreLeaks).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, jstest.IgnoreLeaks...)
}
