package crdttest

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"

	"github.com/weft-dev/weft/crdt"
)

// MutateSyncMessage returns a copy of a V1 sync message whose change
// chunks had a few body bytes replaced and their checksums repaired: the
// crafted input that aborts automerge-rs 0.5.0 (PROTOCOL.md §10.4). It is
// for robustness tests and fuzzing; msg is returned unchanged if it carries
// no change.
func MutateSyncMessage(rng *rand.Rand, msg []byte) []byte {
	m, err := crdt.ParseSyncMessage(msg)
	if err != nil || len(m.Changes) == 0 {
		return msg
	}
	var chunks [][]byte
	for _, c := range m.Changes {
		b := bytes.Clone(c.Bytes)
		if len(b) > 12 {
			for i := 0; i < 1+rng.IntN(3); i++ {
				b[12+rng.IntN(len(b)-12)] = byte(rng.IntN(256))
			}
			fixChecksum(b)
		}
		chunks = append(chunks, b)
	}
	return crdt.ChangesMessage(m.Heads, chunks)
}

// fixChecksum rewrites a chunk's checksum (bytes 4 to 8: the first four
// bytes of the SHA-256 of type, length and body) to match its contents.
// The mutator changes body bytes only, so the framing stays valid.
func fixChecksum(c []byte) {
	h := sha256.Sum256(c[8:])
	copy(c[4:8], h[:4])
}
