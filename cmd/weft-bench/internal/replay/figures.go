package replay

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
	"github.com/weft-dev/weft/crdt"
)

// figures fills in deliveries, latency, elapsed time and rates, after
// every read loop has exited.
func figures(res *workload.Result, w *writer, readers []*reader, tm *timing) {
	last := tm.start
	for _, rd := range readers {
		res.Delivered += rd.got
		res.ReaderAcks += rd.acks
		res.ReaderMessages += rd.msgs
		if !rd.doneAt.IsZero() && rd.doneAt.After(last) {
			last = rd.doneAt
		}
	}
	if tm.err != nil || len(readers) == 0 {
		last = tm.end
	}
	if lat := latencies(readers, tm); len(lat) > 0 {
		res.Latency = &workload.Latency{P50: workload.Millis(workload.Percentile(lat, 50)),
			P99: workload.Millis(workload.Percentile(lat, 99)), Max: workload.Millis(workload.Percentile(lat, 100))}
	}
	res.ElapsedSeconds = last.Sub(tm.start).Seconds()
	if res.ElapsedSeconds > 0 {
		res.ChangesPerSec = float64(res.Delivered) / float64(max(res.Reader, 1)) / res.ElapsedSeconds
		res.DeliveriesPerSec = float64(res.Delivered) / res.ElapsedSeconds
		if len(readers) == 0 { // changes the server acknowledged
			res.ChangesPerSec = float64(w.acked.Load()) / res.ElapsedSeconds
		}
	}
	res.WriterResyncs, res.WriterMessages, res.WindowWaits = w.resyncs, w.msgs, w.waits
}

// latencies returns, sorted, the time from each change's intended send
// time to its arrival, for every change at every reader.
func latencies(readers []*reader, tm *timing) []time.Duration {
	index := make(map[crdt.Hash]int, len(tm.hashes))
	for i, h := range tm.hashes {
		index[h] = i
	}
	var lat []time.Duration
	for _, rd := range readers {
		for _, a := range rd.arrivals {
			if i, ok := index[a.hash]; ok {
				lat = append(lat, a.at.Sub(tm.sentAt[i]))
			}
		}
	}
	slices.Sort(lat)
	return lat
}

// converge checks the writer's text, then every reader's, against the
// expected text; runErr (the replay ended early) fails the run too.
func converge(res *workload.Result, w *writer, readers []*reader, expected string, runErr error) {
	res.TextLen = len([]rune(expected))
	res.Converged = true
	w.rmu.Lock()
	cerr := w.catchUp()
	w.rmu.Unlock()
	if t, err := w.r.Text("text"); cerr != nil || err != nil || t != expected {
		res.Converged = false
		res.Diverged = append(res.Diverged, "writer (the tool's own replica: a bug in weft-bench)")
	}
	res.Diverged = append(res.Diverged, checkReaders(readers, expected)...)
	if len(res.Diverged) > 0 {
		res.Converged = false
	}
	if runErr != nil {
		res.Error = runErr.Error()
		res.Converged = false
	}
}

// checkReaders applies what each reader received to its replica and
// compares the text with the expected one. Readers holding the same set of
// changes (by hash, checked against their bytes on receipt) hold the same
// document, so each distinct set is applied once.
func checkReaders(readers []*reader, expected string) []string {
	groups, order := groupReaders(readers)
	var bad []string
	for _, k := range order {
		g := groups[k]
		text, err := g.rd.finalText()
		if err == nil && text == expected {
			continue
		}
		for _, i := range g.members {
			why := fmt.Sprintf("%d of %d changes, text differs", readers[i].got, readers[i].want)
			if err != nil {
				why = err.Error()
			}
			bad = append(bad, fmt.Sprintf("reader %d: %s", i, why))
		}
	}
	return bad
}

// group is the readers holding one set of changes; rd stands for them.
type group struct {
	rd      *reader
	members []int
}

// groupReaders groups readers by the set of changes they hold, keyed by
// the SHA-256 of the sorted hashes; order is the keys in order of first
// appearance.
func groupReaders(readers []*reader) (map[[32]byte]*group, [][32]byte) {
	groups := map[[32]byte]*group{}
	var order [][32]byte
	for i, rd := range readers {
		d := sha256.New()
		for _, h := range rd.hs.Known() {
			d.Write(h[:])
		}
		var key [32]byte
		copy(key[:], d.Sum(nil))
		g := groups[key]
		if g == nil {
			g = &group{rd: rd}
			groups[key] = g
			order = append(order, key)
		}
		g.members = append(g.members, i)
	}
	return groups, order
}
