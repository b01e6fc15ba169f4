package syncmsg

import "github.com/weft-dev/weft/crdt"

// Message is what a light peer reads from a sync message.
type Message struct {
	Heads, Need []crdt.Hash
	Changes     []Change
}

// Change is one change chunk of a message.
type Change struct {
	Hash crdt.Hash
	Deps []crdt.Hash
	Raw  []byte
}
