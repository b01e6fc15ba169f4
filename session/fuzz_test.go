package session

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds frames to the wire decoder, whole and cut into chunks
// the way a broken peer might send them: it must never panic, and what it
// accepts must encode and decode to the same message.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob("../testdata/cbor/*.cbor")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, uint8(3))
		}
	}
	f.Add([]byte{0xa1, 0x64, 't', 'y', 'p', 'e', 0x64, 's', 'y', 'n', 'c'}, uint8(1))
	f.Fuzz(func(t *testing.T, frame []byte, cut uint8) {
		for _, part := range chunks(frame, int(cut)+1) {
			Decode(part)
		}
		m, err := Decode(frame)
		if err != nil {
			return
		}
		again, err := Decode(Encode(m))
		if err != nil {
			t.Fatalf("re-decoding an accepted message: %v", err)
		}
		if again.Type != m.Type || again.SenderID != m.SenderID || !bytes.Equal(again.Data, m.Data) ||
			again.DocumentID != m.DocumentID || again.Count != m.Count {
			t.Fatalf("roundtrip changed the message: %+v vs %+v", m, again)
		}
	})
}

func chunks(b []byte, n int) [][]byte {
	var out [][]byte
	size := max(1, len(b)/n)
	for len(b) > size {
		out = append(out, b[:size])
		b = b[size:]
	}
	return append(out, b)
}
