package crdt

import "crypto/sha256"

// The internals crdt's external tests (package crdt_test, which imports
// crdt/crdttest) need, exported to them only.

var (
	BuildMessage        = buildMessage
	ParseRawSyncMessage = parseSyncMessage
	SplitChunks         = splitChunks
	SplitFirstDocChunk  = splitFirstDocChunk
	DocHeads            = heads
	SortHeads           = sortHeads
	PutUleb             = putUleb
	ParsePointer        = parsePointer
	PlainText           = plainText
	ChangeTime          = changeTime
	RSS                 = rss
)

// Heads, Need and Changes read parseSyncMessage's result.
func (m syncMessage) Heads() Heads         { return m.heads }
func (m syncMessage) Need() Heads          { return m.need }
func (m syncMessage) Changes() []rawChange { return m.changes }

// Hash returns a parsed change's hash.
func (c rawChange) Hash() Hash { return c.hash }

// NewReader returns a reader of b from off.
func NewReader(b []byte, off int) *reader { return &reader{b: b, off: off} }

func (r *reader) Hashes() Heads        { return r.hashes() }
func (r *reader) Count() int           { return r.count() }
func (r *reader) Uleb() uint64         { return r.uleb() }
func (r *reader) Take(n uint64) []byte { return r.take(n) }
func (r *reader) Off() int             { return r.off }
func (r *reader) Err() error           { return r.err }

// FixChecksum rewrites a change chunk's checksum to match its bytes (for
// tests that forge changes).
func FixChecksum(c []byte) {
	_, _, rest, err := readChunk(c)
	if err != nil || len(rest) > 0 {
		return
	}
	h := sha256.Sum256(c[8:])
	copy(c[4:8], h[:4])
}
