package crdt

import (
	"bytes"
	"math/rand/v2"
)

// MutateSyncMessage returns a copy of a V1 sync message whose change
// chunks had a few body bytes replaced and their checksums repaired: the
// crafted input that aborts automerge-rs 0.5.0 (PROTOCOL.md §10.4). It is
// for robustness tests and fuzzing; msg is returned unchanged if it carries
// no change.
func MutateSyncMessage(rng *rand.Rand, msg []byte) []byte {
	m, err := parseSyncMessage(msg)
	if err != nil || len(m.changes) == 0 {
		return msg
	}
	var chunks [][]byte
	for _, c := range m.changes {
		b := bytes.Clone(c.bytes)
		if len(b) > 12 {
			for i := 0; i < 1+rng.IntN(3); i++ {
				b[12+rng.IntN(len(b)-12)] = byte(rng.IntN(256))
			}
			fixChecksum(b)
		}
		chunks = append(chunks, b)
	}
	return buildMessage(m.heads, nil, chunks)
}
