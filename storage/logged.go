package storage

// Logged is one entry of a document's log in a store shared by the nodes of a cluster
// (JetStream), as a follower of that log receives it, in log order. Exactly one of these holds:
//   - Chunk is not nil: an incremental chunk holding Changes changes, appended at Seq (Own: by
//     this store instance, so the follower already has it).
//   - Compacted is not 0: a snapshot now covers every chunk up to sequence Compacted; chunks up
//     to it may have been purged before this follower received them (the follower cannot tell
//     from the sequences, which other documents share), so a follower that does not hold every
//     change of Heads (the snapshot's heads, as its writer gave them; "" if unknown) must
//     load the document again. Own: this store instance compacted.
//   - Deleted: the document was deleted (a tombstone); nothing follows.
type Logged struct {
	Seq       uint64
	Chunk     []byte
	Changes   int
	Own       bool
	Compacted uint64
	Heads     string
	Deleted   bool
}
