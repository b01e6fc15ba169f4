package cluster

import (
	"fmt"
	"io"
)

// printTable prints the rows as one Markdown table: the replays' changes/s
// and latencies, the openings' times.
func printTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| workload | setup | changes/s | p50 ms | p99 ms | max ms | first message ms | full sync ms | converged |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		if o := r.Open; o != nil {
			conv := "yes"
			if o.Error != "" {
				conv = "**failed**: " + o.Error
			} else if !o.Converged {
				conv = "**no**"
			}
			fmt.Fprintf(w, "| %s | %s | – | – | – | – | %.1f | %.1f | %s |\n", r.Workload, r.Setup, o.FirstMs, o.FullMs, conv)
			continue
		}
		res := r.Result
		conv := "yes"
		if res.Error != "" {
			conv = "**failed**: " + res.Error
		} else if !res.Converged {
			conv = fmt.Sprintf("**no** (%d/%d delivered)", res.Delivered, res.Expected)
		}
		p50, p99, mx := "–", "–", "–"
		if l := res.Latency; l != nil {
			p50, p99, mx = fmt.Sprintf("%.2f", l.P50), fmt.Sprintf("%.2f", l.P99), fmt.Sprintf("%.2f", l.Max)
		}
		fmt.Fprintf(w, "| %s | %s | %.0f | %s | %s | %s | – | – | %s |\n", r.Workload, r.Setup, res.ChangesPerSec, p50, p99, mx, conv)
	}
}
