package replay

import (
	"context"
	"testing"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/launch/launchtest"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace/tracetest"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
)

func TestMain(m *testing.M) { launchtest.Main(m) }

// A short replay against a real weft: every change reaches both readers,
// the texts converge, and the figures are filled in.
func TestReplayAgainstWeft(t *testing.T) {
	s := launchtest.StartWeft(t)
	trace := tracetest.Write(t, tracetest.Synth(300, 3), true)
	for _, rate := range []float64{0, 500} {
		// Flat out with a small window, open loop without one.
		window := 0
		if rate == 0 {
			window = 20
		}
		res, err := Run(context.Background(), workload.Config{URL: s.URL, Trace: trace, Changes: 300, Readers: 2,
			Rate: rate, Window: window, PID: s.PID(), Timeout: time.Minute})
		if err != nil {
			t.Fatalf("rate %g: %v\n%s", rate, err, s.Log())
		}
		if res.Error != "" || !res.Converged {
			t.Fatalf("rate %g: error %q, converged %v, diverged %v\n%s", rate, res.Error, res.Converged, res.Diverged, s.Log())
		}
		if res.Changes != 299 || res.Delivered != 2*299 || res.ChangesPerSec <= 0 {
			t.Fatalf("rate %g: %d changes, %d delivered, %.0f changes/s", rate, res.Changes, res.Delivered, res.ChangesPerSec)
		}
		if res.Latency == nil || res.Latency.Max <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
			t.Fatalf("rate %g: latency %+v", rate, res.Latency)
		}
		if res.Server == nil || res.Server.CPUSeconds <= 0 || res.Server.PeakRSS <= 0 || res.BytesSent <= 0 || res.BytesReceived <= 0 {
			t.Fatalf("rate %g: server %+v, wire %d/%d", rate, res.Server, res.BytesSent, res.BytesReceived)
		}
		if rate > 0 && res.ElapsedSeconds < 298/rate { // change i is due at i/rate
			t.Fatalf("open loop at %g/s finished in %.2f s", rate, res.ElapsedSeconds)
		}
	}
}
