// Package launchtest serves a freshly built weft for the end-to-end tests
// of weft-bench's packages.
package launchtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/launch"

	"go.uber.org/goleak"
)

var (
	buildOnce sync.Once
	weftBin   string
	buildErr  error

	natsOnce sync.Once
	natsBin  string
	natsErr  error
)

// StartWeft builds cmd/weft (once per test binary) and serves it on a free
// loopback port with a temporary data directory until the test ends. It
// skips the test under -short.
func StartWeft(t *testing.T) *launch.Server {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the weft binary")
	}
	s, err := launch.Weft(WeftBin(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// WeftBin builds cmd/weft (once per test binary) and returns its path. It
// skips the test under -short.
func WeftBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the weft binary")
	}
	buildOnce.Do(build)
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return weftBin
}

// NATSBin builds nats-server at the version go.mod pins (once per test
// binary) next to the weft binary and returns its path. It skips the test
// under -short.
func NATSBin(t *testing.T) string {
	t.Helper()
	dir := filepath.Dir(WeftBin(t))
	natsOnce.Do(func() {
		natsBin = filepath.Join(dir, "nats-server")
		if out, err := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
			natsErr = fmt.Errorf("go build nats-server: %w\n%s", err, out)
		}
	})
	if natsErr != nil {
		t.Fatal(natsErr)
	}
	return natsBin
}

func build() {
	dir, err := os.MkdirTemp("", "weft-bench-test-")
	if err != nil {
		buildErr = err
		return
	}
	weftBin = filepath.Join(dir, "weft")
	if out, err := exec.Command("go", "build", "-o", weftBin, "github.com/weft-dev/weft/cmd/weft").CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build ./cmd/weft: %w\n%s", err, out)
	}
}

// Main is the TestMain of a package that starts weft: it runs the tests,
// checks that no goroutine leaked, and removes the built binary.
func Main(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		Cleanup()
		os.Exit(code)
	}))
}

// Cleanup removes the built binary; Main calls it after the tests.
func Cleanup() {
	if weftBin != "" {
		os.RemoveAll(filepath.Dir(weftBin))
	}
}
