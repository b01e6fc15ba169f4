package crdt

import (
	"errors"
	"testing"
)

// FuzzParse feeds arbitrary bytes to every parser of client bytes that runs
// in the server's own process (not a worker): sync-message headers, change
// chunks, heads, hashes, document ids and JSON pointers. None may panic,
// and each must fail with its package sentinel; a message that parses must
// read the same through every view of it.
func FuzzParse(f *testing.F) {
	c := NewReplica()
	c.SpliceText("text", 0, 0, "hello fuzz")
	msg, _ := c.GenerateMessage()
	f.Add(msg)
	f.Add(buildMessage(c.Heads(), nil, [][]byte{c.LastChange()}))
	f.Add(c.Save())
	f.Add(c.LastChange())
	f.Add([]byte{0x42, 0x01})
	f.Add([]byte{0x42, 0, 0x01})
	f.Add([]byte{0x42, 0, 0, 1, 0x01})
	f.Add([]byte{0x42, 0, 0, 0, 1, 9, 0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1})
	f.Add([]byte("4ZjQUoU3fh6SLMMRzMdsvUDC44k9"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSyncParsers(t, b)
		if _, err := ParseChanges(b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ParseChanges: unexpected error kind: %v", err)
		}
		if _, err := splitChunks(b); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("splitChunks: unexpected error kind: %v", err)
		}
		first, rest := splitFirstDocChunk(b)
		if len(first)+len(rest) != len(b) {
			t.Fatalf("splitFirstDocChunk lost bytes: %d+%d of %d", len(first), len(rest), len(b))
		}
		s := string(b)
		if _, err := ParseHeads(s); err == nil {
			var hs Heads
			if err := hs.UnmarshalText(b); err != nil {
				t.Fatalf("ParseHeads accepts %q, UnmarshalText refuses it: %v", s, err)
			}
		}
		if _, err := ParseDocumentID(s); err != nil && !errors.Is(err, ErrInvalidID) {
			t.Fatalf("ParseDocumentID: unexpected error kind: %v", err)
		}
		parsePointer(s)
	})
}

// checkSyncParsers runs the sync-message views of b and checks that they
// agree when b parses.
func checkSyncParsers(t *testing.T, b []byte) {
	m, err := parseSyncMessage(b)
	carries := CarriesChanges(b)
	heads, herr := MessageHeads(b)
	n, nerr := MessageChanges(b)
	if err != nil {
		if !errors.Is(err, ErrBadMessage) {
			t.Fatalf("parseSyncMessage: unexpected error kind: %v", err)
		}
		if nerr == nil {
			t.Fatalf("MessageChanges accepts what parseSyncMessage refuses (%v)", err)
		}
		return
	}
	if herr != nil || !heads.Equal(m.heads) {
		t.Fatalf("MessageHeads = %v, %v; parsed heads %v", heads, herr, m.heads)
	}
	if nerr != nil || n != len(m.changes) {
		t.Fatalf("MessageChanges = %d, %v; parsed %d changes", n, nerr, len(m.changes))
	}
	if carries != (len(m.changes) > 0) {
		t.Fatalf("CarriesChanges = %v with %d changes", carries, len(m.changes))
	}
}
