package session

import (
	"context"
	"slices"
	"time"
)

// Memory accounting for Config.MemoryBudget. Each document goroutine
// measures its engine copy (crdt.Engine.Stats, or an estimate from what
// it loaded and stored) and reports it with its idleness after every
// batch; the Manager sums the reports and, over budget, asks the least
// recently used idle documents to unload. The document decides: it
// unloads only if it still has no peer and nothing was posted to it
// (Manager.unload), so a document with peers is never evicted.

// memAcct is what the Manager knows of a document's memory. Guarded by
// Manager.mu: the document's goroutine writes it through account, the
// Manager reads it to pick victims and clears it in unload.
type memAcct struct {
	mem      int64     // bytes, as last reported; 0 when not loaded
	lastUse  time.Time // last batch with a local peer's event
	idle     bool      // no peer at the last report
	evicting bool      // asked to unload for the budget, no report since
}

// memRefresh bounds how often a busy document asks the engine for its
// memory (a worker round trip).
const memRefresh = time.Second

// Fallback estimate when the engine cannot tell (crdt.Engine.Stats fails):
// Automerge holds several times the compressed bytes it loads, plus
// about a kilobyte per change of history (measured: the automerge-paper
// trace, 259,778 keystroke changes, takes 300–450 MB loaded).
const (
	memPerByte   = 8
	memPerChange = 1 << 10
	memBase      = 64 << 10
)

func estimateMemory(stored int64, changes int) int64 {
	return memBase + stored*memPerByte + int64(changes)*memPerChange
}

// measure returns the memory of the engine's copy, refreshed at most
// every memRefresh unless the document has just loaded or gone idle.
// Goroutine-owned state only.
func (d *document) measure(force bool) int64 {
	if !d.loaded {
		return 0
	}
	if !d.memAt.IsZero() && !force && (d.memChanges == d.changes || time.Since(d.memAt) < memRefresh) {
		return d.memLast
	}
	ctx, cancel := context.WithTimeout(d.m.root, 5*time.Second)
	st, err := d.m.cfg.Engine.Stats(ctx, d.id)
	cancel()
	if err == nil && st.Memory > 0 {
		d.memLast = st.Memory
	} else {
		if err != nil && d.memAt.IsZero() {
			d.log.Debug("engine memory unknown; estimating from stored bytes", "err", err)
		}
		d.memLast = estimateMemory(d.snapSize+d.incSize, d.changes)
	}
	d.memAt, d.memChanges = time.Now(), d.changes
	return d.memLast
}

// report tells the Manager the document's memory and whether it is idle
// (no peers); used marks a batch with a local peer's event. Called by the
// document's goroutine.
func (d *document) report(used bool) {
	idle := len(d.peers) == 0
	mem := d.measure(idle && !d.wasIdle)
	d.wasIdle = idle
	d.m.account(d, mem, idle, used)
}

// account records a document's report and, over budget, asks the least
// recently used idle documents to unload.
func (m *Manager) account(d *document, mem int64, idle, used bool) {
	m.mu.Lock()
	if m.docs[d.id] != d {
		m.mu.Unlock()
		return
	}
	m.memTotal += mem - d.acct.mem
	d.acct.mem = mem
	d.acct.idle = idle
	d.acct.evicting = false
	if used || d.acct.lastUse.IsZero() {
		d.acct.lastUse = time.Now()
	}
	if idle {
		m.evictable = true
	}
	victims := m.overBudget()
	m.mu.Unlock()
	askUnload(victims)
}

// overBudget picks the documents to unload when over budget. Called with
// m.mu held.
func (m *Manager) overBudget() []*document {
	b := m.cfg.MemoryBudget
	if b <= 0 || m.memTotal <= b || !m.evictable || m.closing {
		return nil
	}
	return m.pickVictims(m.memTotal - b)
}

func askUnload(victims []*document) {
	for _, v := range victims {
		select {
		case v.evict <- struct{}{}:
		default: // already asked
		}
	}
}

// pickVictims chooses idle documents, least recently used first, whose
// memory covers need (minus what documents already asked to unload hold).
// Called with m.mu held.
func (m *Manager) pickVictims(need int64) []*document {
	var cands []*document
	for _, d := range m.docs {
		switch {
		case d.acct.evicting:
			need -= d.acct.mem
		case d.acct.idle && d.acct.mem > 0 && d.posted.Load() == 0:
			cands = append(cands, d)
		}
	}
	if need <= 0 {
		return nil
	}
	slices.SortFunc(cands, func(a, b *document) int { return a.acct.lastUse.Compare(b.acct.lastUse) })
	var victims []*document
	for _, d := range cands {
		if need <= 0 {
			break
		}
		d.acct.evicting = true
		need -= d.acct.mem
		victims = append(victims, d)
	}
	if len(victims) == len(cands) {
		// Nothing else to evict until a document reports idle.
		m.evictable = false
	}
	return victims
}

// MemoryStats is the engine memory of the open documents.
type MemoryStats struct {
	Budget int64   // Config.MemoryBudget; 0: none
	Total  int64   // sum of PerDoc
	PerDoc []int64 // one entry per loaded document, in no order
}

// Memory returns the documents' memory as last reported (for metrics).
func (m *Manager) Memory() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := MemoryStats{Budget: m.cfg.MemoryBudget, Total: m.memTotal, PerDoc: make([]int64, 0, len(m.docs))}
	for _, d := range m.docs {
		if d.acct.mem > 0 {
			s.PerDoc = append(s.PerDoc, d.acct.mem)
		}
	}
	return s
}
