package session

import "time"

// Test hooks.

// SetMemoryBudget changes m's budget and applies it at once.
func SetMemoryBudget(m *Manager, b int64) {
	m.mu.Lock()
	m.cfg.MemoryBudget = b
	m.evictable = true
	victims := m.overBudget()
	m.mu.Unlock()
	askUnload(victims)
}

// Loaded reports whether doc is open in m.
func Loaded(m *Manager, doc string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.docs[doc] != nil
}

// SetCompaction changes the load time and the number of change chunks
// over which a document is compacted, returning a function that restores
// them. Call it while no document runs.
func SetCompaction(slow time.Duration, chunks int) (restore func()) {
	oldSlow, oldChunks := slowLoad, maxIncrementals
	slowLoad, maxIncrementals = slow, chunks
	return func() { slowLoad, maxIncrementals = oldSlow, oldChunks }
}
