package cluster

import (
	"context"
	"fmt"
	"io"
)

// openJobs uploads the big document through node 1 and times a fresh
// client's first full sync of it: on a single node, after the node
// restarts; on a cluster, on a node started with an empty data directory
// once node 2 has stopped (two nodes running), then on a third (three
// running).
func openJobs(ctx context.Context, e *env, big *bigDoc, stderr io.Writer) ([]Row, error) {
	name := fmt.Sprintf("open a %d-change document on a node that never saw it, first full sync", big.changes)
	if e.s.cluster() {
		e.stopNode(1)
	} else {
		name = fmt.Sprintf("open a %d-change document on the node after its restart, first full sync", big.changes)
	}
	fmt.Fprintf(stderr, "== %s: uploading the big document through node 1\n", e.s.name)
	doc, err := upload(ctx, e.writerURL(), big)
	if err != nil {
		return nil, fmt.Errorf("%s: %w\n%s", e.s.name, err, e.Log())
	}
	e.quiet(ctx)
	rounds := 2
	if !e.s.cluster() {
		e.stopNode(0) // restarted on its data directory below
		rounds = 1
	}
	var rows []Row
	for range rounds {
		n, err := e.addNode()
		if err != nil {
			return rows, err
		}
		e.quiet(ctx)
		label := e.s.label(e.live())
		fmt.Fprintf(stderr, "== %s: %s (%s)\n", label, name, n.Name)
		res := open(ctx, n.URL, doc, big, e.live())
		fmt.Fprintf(stderr, "   first message %.1f ms, full sync %.1f ms, %d messages, %.1f MB received, converged %v %s\n",
			res.FirstMs, res.FullMs, res.Messages, float64(res.BytesReceived)/1e6, res.Converged, res.Error)
		if res.Error != "" {
			fmt.Fprintf(stderr, "  logs (tail):\n%s\n", e.Log())
		}
		rows = append(rows, Row{Workload: name, Setup: label, Open: res})
	}
	return rows, nil
}
