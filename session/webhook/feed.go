package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
)

// Deliveries from a cluster's shared feed (HandleFeed): see the package documentation.

// absorb merges the later change item it into b.
func (b *item) absorb(it item) {
	b.changes = append(b.changes, it.changes...)
	b.heads, b.time = it.heads, it.time
	b.last = it.last
	b.acks = append(b.acks, it.acks...)
}

// HandleFeed queues a change for hook (an index in Config.Hooks) from a cluster's shared
// feed: seq is its log sequence, ack is called once the delivery carrying it is finished
// (delivered or given up), not if Close aborts it. It blocks while the queue is full (the
// feed waits; nothing is dropped) and returns without ack once the Dispatcher is closing.
func (d *Dispatcher) HandleFeed(hook int, doc string, seq uint64, changes []crdt.ChangeMeta, ack func()) {
	if hook < 0 || hook >= len(d.hooks) || !d.hooks[hook].wants(session.EventChange, doc) || len(changes) == 0 {
		ack()
		return
	}
	it := item{typ: session.EventChange, doc: doc, time: time.Now(), changes: changes,
		feed: true, hook: hook, first: seq, last: seq, acks: []func(){ack}}
	select {
	case d.in <- it:
	case <-d.stop:
	}
}

// batchKey is a debounce window's: a document's session events (hook -1), or one hook's
// feed of it.
type batchKey struct {
	hook int
	doc  string
}

func (it *item) batchKey() batchKey {
	if it.feed {
		return batchKey{it.hook, it.doc}
	}
	return batchKey{-1, it.doc}
}

// feedID is a feed delivery's id: from the hook, the document and the log sequences of its
// first and last change, so a redelivery of the same changes has the same id; a redelivery
// merged differently (another node's debounce window) has another, and loses nothing when
// receivers deduplicate on it.
func feedID(hookURL, doc string, first, last uint64) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%d", hookURL, doc, first, last))
	return "wd_" + hex.EncodeToString(sum[:12])
}
