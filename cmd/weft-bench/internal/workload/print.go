package workload

import (
	"fmt"
	"io"
	"strings"
)

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// Print writes a result for people, one figure a line.
func Print(w io.Writer, r *Result) {
	if r.Mode == "idle" {
		printIdle(w, r)
		return
	}
	printTrace(w, r)
}

func printIdle(w io.Writer, r *Result) {
	fmt.Fprintf(w, "weft-bench idle: %s, %d joined idle connections\n", r.URL, r.Conns)
	if r.Server != nil {
		fmt.Fprintf(w, "  server RSS     %s before, %s after: %.1f KB per connection\n", mb(r.RSSBefore), mb(r.RSSAfter), float64(r.BytesPerConn)/1024)
		fmt.Fprintf(w, "  server         CPU %.2f s, peak RSS %s (pid %d, %d processes)\n", r.Server.CPUSeconds, mb(r.Server.PeakRSS), r.Server.PID, r.Server.Processes)
	}
	fmt.Fprintf(w, "  wire           sent %s, received %s\n", mb(r.BytesSent), mb(r.BytesReceived))
	if r.Error != "" {
		fmt.Fprintf(w, "  ERROR          %s\n", r.Error)
	}
}

func printTrace(w io.Writer, r *Result) {
	rate := "as fast as possible"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g changes/s", r.Rate)
	}
	if r.Window > 0 {
		rate += fmt.Sprintf(", window %d", r.Window)
	}
	fmt.Fprintf(w, "weft-bench trace: %s, %s: %d changes (%d transactions), 1 writer + %d readers, %s\n",
		r.URL, r.Trace, r.Changes, r.Txns, r.Reader, rate)
	fmt.Fprintf(w, "  elapsed        %.2f s\n", r.ElapsedSeconds)
	fmt.Fprintf(w, "  delivered      %.0f changes/s (%.0f deliveries/s; %d of %d deliveries)\n", r.ChangesPerSec, r.DeliveriesPerSec, r.Delivered, r.Expected)
	if r.Latency != nil {
		fmt.Fprintf(w, "  latency        p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.Latency.P50, r.Latency.P99, r.Latency.Max)
	}
	conv := "ok: every reader's text equals the trace's (" + fmt.Sprint(r.TextLen) + " code points)"
	if !r.Converged {
		conv = "NO"
		if len(r.Diverged) > 0 {
			conv += ": " + strings.Join(r.Diverged, "; ")
		}
	}
	fmt.Fprintf(w, "  converged      %s\n", conv)
	fmt.Fprintf(w, "  messages       %d to readers, %d reader acks; %d to the writer, %d of them needing the sync state; window waits %d\n",
		r.ReaderMessages, r.ReaderAcks, r.WriterMessages, r.WriterResyncs, r.WindowWaits)
	fmt.Fprintf(w, "  wire           sent %s, received %s\n", mb(r.BytesSent), mb(r.BytesReceived))
	if r.Server != nil {
		fmt.Fprintf(w, "  server         CPU %.2f s, peak RSS %s (pid %d, %d processes)\n", r.Server.CPUSeconds, mb(r.Server.PeakRSS), r.Server.PID, r.Server.Processes)
	}
	fmt.Fprintf(w, "  this tool      CPU %.2f s\n", r.ToolCPU)
	if r.Error != "" {
		fmt.Fprintf(w, "  ERROR          %s\n", r.Error)
	}
}
