package compare

import (
	"fmt"
	"io"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
)

// printTable prints the results as Markdown tables, ready for a README:
// the trace workloads, the idle ones, then weft's speed-up on each
// flat-out workload.
func printTable(w io.Writer, all []compared) {
	traceTable(w, all)
	idleTable(w, all)
	fmt.Fprintln(w)
	ratios(w, all)
}

func traceTable(w io.Writer, all []compared) {
	fmt.Fprintln(w, "| workload | server | changes/s | p50 ms | p99 ms | max ms | converged | server CPU s | server peak RSS MB |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
	for _, c := range all {
		r := c.Result
		if r.Mode != "trace" {
			continue
		}
		conv := "yes"
		if !r.Converged {
			conv = fmt.Sprintf("**no** (%d/%d delivered)", r.Delivered, r.Expected)
		}
		cpu, rss := "–", "–"
		if r.Server != nil {
			cpu, rss = fmt.Sprintf("%.2f", r.Server.CPUSeconds), fmt.Sprintf("%.0f", float64(r.Server.PeakRSS)/1e6)
		}
		p50, p99, mx := "–", "–", "–"
		if r.Latency != nil {
			p50, p99, mx = fmt.Sprintf("%.2f", r.Latency.P50), fmt.Sprintf("%.2f", r.Latency.P99), fmt.Sprintf("%.2f", r.Latency.Max)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | %s | %s | %s |\n", c.Workload, c.Server, r.ChangesPerSec, p50, p99, mx, conv, cpu, rss)
	}
}

// idleTable prints the idle workloads, after a blank line, if there are
// any.
func idleTable(w io.Writer, all []compared) {
	header := false
	for _, c := range all {
		r := c.Result
		if r.Mode != "idle" {
			continue
		}
		if !header {
			fmt.Fprintln(w)
			fmt.Fprintln(w, "| workload | server | connections | server RSS per connection KB | server CPU s | server peak RSS MB |")
			fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: |")
			header = true
		}
		per, cpu, rss := "–", "–", "–"
		if r.Server != nil {
			per = fmt.Sprintf("%.1f", float64(r.BytesPerConn)/1024)
			cpu, rss = fmt.Sprintf("%.2f", r.Server.CPUSeconds), fmt.Sprintf("%.0f", float64(r.Server.PeakRSS)/1e6)
		}
		if r.Error != "" {
			per = "**failed**: " + r.Error
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s |\n", c.Workload, c.Server, r.Conns, per, cpu, rss)
	}
}

// ratios prints weft's changes/s over the other servers' for the flat-out
// trace workloads (open-loop ones deliver the offered rate on both
// servers).
func ratios(w io.Writer, all []compared) {
	byWorkload := map[string]map[string]*workload.Result{}
	for _, c := range all {
		if byWorkload[c.Workload] == nil {
			byWorkload[c.Workload] = map[string]*workload.Result{}
		}
		byWorkload[c.Workload][c.Server] = c.Result
	}
	for _, c := range all {
		if c.Result.Mode != "trace" || c.Result.Rate > 0 || c.Server != "weft" {
			continue
		}
		for name, ref := range byWorkload[c.Workload] {
			if name != "weft" && ref.ChangesPerSec > 0 {
				fmt.Fprintf(w, "%s: weft delivers %.1f× the reference server's changes/s.\n", c.Workload, c.Result.ChangesPerSec/ref.ChangesPerSec)
			}
		}
	}
}
