package syncmsg

import (
	"errors"
	"fmt"

	"github.com/weft-dev/weft/crdt"
)

// ErrFormat is the error (wrapped) of every message or chunk that does not
// parse.
var ErrFormat = errors.New("malformed sync message")

// Parse reads a V1 sync message with crdt's parser. A V2 message (0x43,
// which automerge 0.5.0 cannot read either) is an error. Trailing
// capability bytes from newer cores are ignored.
func Parse(b []byte) (Message, error) {
	if len(b) > 0 && b[0] == 0x43 {
		return Message{}, fmt.Errorf("%w: a V2 (0x43) message, which automerge 0.5.0 cannot read", ErrFormat)
	}
	sm, err := crdt.ParseSyncMessage(b)
	if err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	m := Message{Heads: sm.Heads, Need: sm.Need}
	for _, c := range sm.Changes {
		m.Changes = append(m.Changes, Change{Hash: c.Hash, Deps: c.Deps, Raw: c.Bytes})
	}
	return m, nil
}

// ParseChange reads the hash and dependencies of a change chunk.
func ParseChange(raw []byte) (Change, error) {
	c, err := crdt.ParseChange(raw)
	if err != nil {
		return Change{Raw: raw}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return Change{Hash: c.Hash, Deps: c.Deps, Raw: raw}, nil
}

// Build builds a V1 sync message with the given heads and change chunks:
// enough for a Replica to apply them.
func Build(heads []crdt.Hash, chunks [][]byte) []byte { return crdt.ChangesMessage(heads, chunks) }
