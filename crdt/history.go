package crdt

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/automerge/automerge-go"
)

// History limits.
const (
	defaultHistoryLimit = 100
	maxHistoryLimit     = 1000
)

// apiState is what the server-side API keeps per open document.
type apiState struct {
	// actor writes the server's edits: random per document and open.
	actor string
	// lastEdit is the newest change made with actor (zero: none yet).
	lastEdit Hash

	// Memory accounting (see Stats): RSS growth measured around the load,
	// the loaded size, and the heads at open.
	rssOpen   int64
	openHeads Heads
	// Changes added since open, and their bytes.
	added int
	grown int64
}

// newAPIState records a document's load: rssBefore is the process's RSS
// measured just before it, hs its heads.
func newAPIState(rssBefore int64, hs Heads) *apiState {
	a := &apiState{openHeads: hs}
	if rssBefore > 0 {
		a.rssOpen = max(rss()-rssBefore, 0)
	}
	return a
}

// apiState returns the document's API state, creating it for documents
// opened without one, and its actor on first use.
func (d *docState) apiState() *apiState {
	if d.api == nil {
		d.api = &apiState{openHeads: heads(d.doc)}
	}
	if d.api.actor == "" {
		d.api.actor = automerge.NewActorID()
	}
	return d.api
}

// rss returns the process's resident set size in bytes, 0 where
// /proc/self/statm does not exist.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// Memory factors, measured with automerge-rs 0.5.0 on a per-keystroke
// history (TestMeasureMemory, WEFT_MEASURE=1): resident bytes per change
// loaded (~1,100) and per byte of change chunks applied one by one (9-12).
// Bytes of a saved document say little (its columns are run-length
// encoded: 20,000 keystrokes save to 1 KB and take 22 MB).
const changeByteCost = 12

// History implements Engine.
func (l *Local) History(_ context.Context, q HistoryQuery) (page []ChangeMeta, total int, err error) {
	defer catchEdit(&err)
	d, err := l.get(q.Doc)
	if err != nil {
		return nil, 0, err
	}
	if q.Skip < 0 {
		return nil, 0, badEdit("skip %d", q.Skip)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	limit = min(limit, maxHistoryLimit)
	all, err := d.doc.Changes()
	if err != nil {
		return nil, 0, err
	}
	total = len(all)
	page = []ChangeMeta{}
	// Newest first: the reverse of Automerge's (causal) order.
	for i := total - 1 - q.Skip; i >= 0 && len(page) < limit; i-- {
		ms, err := ParseChanges(all[i].Save())
		if err == nil && len(ms) != 1 {
			err = fmt.Errorf("%w: %d changes in one", ErrCorrupt, len(ms))
		}
		if err != nil {
			return nil, 0, err
		}
		page = append(page, ms[0])
	}
	return page, total, nil
}

// Stats implements Engine. It costs nothing that grows with the history:
// a memory check runs every second on a busy document, and automerge-rs
// 0.5.0 lists changes since given heads by walking all of them.
//
// Memory is an estimate: the growth of the process's resident set size
// measured around the document's load, plus the bytes of change chunks
// added since times changeByteCost. In a worker the load is the only work
// at that moment; in a Local other goroutines may blur it. When an
// allocator reusing freed memory hid the load (no growth), Memory is 0:
// unknown, and callers estimate from what they stored. It ignores memory
// freed since and counts per byte what automerge-rs spends per op, so a
// large paste (few bytes, many ops) is underestimated by up to ~30 times:
// read it as an order of magnitude for comparing documents.
func (l *Local) Stats(_ context.Context, doc string) (s Stats, err error) {
	defer catchEdit(&err)
	d, err := l.get(doc)
	if err != nil {
		return s, err
	}
	a := d.apiState()
	s.Changes = a.added
	if a.rssOpen > 0 {
		s.Memory = a.rssOpen + a.grown*changeByteCost
	}
	return s, nil
}

// grew accounts for changes that became part of the document.
func (a *apiState) grew(n, size int) {
	a.added += n
	a.grown += int64(size)
}
