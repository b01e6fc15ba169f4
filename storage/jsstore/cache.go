package jsstore

import (
	"container/list"
	"slices"
	"sync"

	"github.com/weft-dev/weft/storage"
)

// lru is the fallback cache: each document's Chunks as last loaded, plus what this store
// appended and compacted since (acknowledged data only), within a byte budget. Its mutex
// owns it; entries are copied in and out.
type lru struct {
	mu     sync.Mutex
	budget int64
	used   int64
	ll     *list.List // front: most recently used
	m      map[string]*list.Element
}

type lruEntry struct {
	doc  string
	c    storage.Chunks
	seqs []uint64 // of c.Incrementals
}

func newLRU(budget int64) *lru {
	return &lru{budget: budget, ll: list.New(), m: map[string]*list.Element{}}
}

func copyChunks(c storage.Chunks) storage.Chunks {
	out := c
	out.Snapshots = cloneAll(c.Snapshots)
	out.Incrementals = cloneAll(c.Incrementals)
	return out
}

func cloneAll(bs [][]byte) [][]byte {
	if bs == nil {
		return nil
	}
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = slices.Clone(b)
	}
	return out
}

// get returns a copy of docID's cached chunks.
func (l *lru) get(docID string) (storage.Chunks, bool) {
	if l.budget < 0 {
		return storage.Chunks{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[docID]
	if !ok {
		return storage.Chunks{}, false
	}
	l.ll.MoveToFront(e)
	return copyChunks(e.Value.(*lruEntry).c), true
}

// loaded caches what a Load returned; seqs are its incrementals' sequence numbers.
func (l *lru) loaded(docID string, c storage.Chunks, seqs []uint64) {
	if l.budget < 0 || c.Bytes > l.budget {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set(&lruEntry{docID, copyChunks(c), slices.Clone(seqs)})
}

// appended adds an acknowledged chunk (this store's, or another's that a follow received) to
// a cached document, in sequence order and once; uncached documents stay so, and a chunk a
// snapshot already covers is skipped.
func (l *lru) appended(docID string, seq uint64, chunk []byte) {
	if l.budget < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[docID]
	if !ok {
		return
	}
	old := e.Value.(*lruEntry)
	i, found := slices.BinarySearch(old.seqs, seq)
	if found {
		return
	}
	c := old.c
	c.Incrementals = slices.Insert(slices.Clip(c.Incrementals), i, slices.Clone(chunk))
	c.Bytes += int64(len(chunk))
	c.LastSeq = max(c.LastSeq, seq)
	l.set(&lruEntry{docID, c, slices.Insert(slices.Clip(old.seqs), i, seq)})
}

// compacted replaces a cached document's chunks up to upTo by snapshot.
func (l *lru) compacted(docID string, snapshot []byte, upTo uint64) {
	if l.budget < 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.m[docID]
	if !ok {
		return
	}
	old := e.Value.(*lruEntry)
	n := &lruEntry{doc: docID}
	n.c.Snapshots = [][]byte{slices.Clone(snapshot)}
	n.c.Bytes = int64(len(snapshot))
	n.c.LastSeq = max(old.c.LastSeq, upTo)
	n.c.SnapSeq = upTo
	for i, seq := range old.seqs {
		if seq > upTo {
			n.c.Incrementals = append(n.c.Incrementals, old.c.Incrementals[i])
			n.c.Bytes += int64(len(old.c.Incrementals[i]))
			n.seqs = append(n.seqs, seq)
		}
	}
	l.set(n)
}

func (l *lru) drop(docID string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.remove(docID)
}

func (l *lru) set(e *lruEntry) {
	l.remove(e.doc)
	l.m[e.doc] = l.ll.PushFront(e)
	l.used += e.c.Bytes
	for l.used > l.budget && l.ll.Len() > 0 {
		l.remove(l.ll.Back().Value.(*lruEntry).doc)
	}
}

func (l *lru) remove(docID string) {
	if e, ok := l.m[docID]; ok {
		l.used -= e.Value.(*lruEntry).c.Bytes
		l.ll.Remove(e)
		delete(l.m, docID)
	}
}
