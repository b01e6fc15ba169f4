package crdt_test

import (
	"errors"
	"testing"

	"github.com/weft-dev/weft/crdt"
)

// FuzzParse feeds arbitrary bytes to every parser of client bytes that runs
// in the server's own process (not a worker): sync-message headers, change
// chunks, heads, hashes, document ids and JSON pointers. None may panic,
// and each must fail with its package sentinel; a message that parses must
// read the same through every view of it.
func FuzzParse(f *testing.F) {
	c := addSyncSeeds(f)
	f.Add(c.Save())
	f.Add(c.LastChange())
	f.Add([]byte{0x42, 0x01})
	f.Add([]byte{0x42, 0, 0x01})
	f.Add([]byte{0x42, 0, 0, 1, 0x01})
	f.Add([]byte{0x42, 0, 0, 0, 1, 9, 0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1})
	f.Add([]byte("4ZjQUoU3fh6SLMMRzMdsvUDC44k9"))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSyncParsers(t, b)
		if _, err := crdt.ParseChanges(b); err != nil && !errors.Is(err, crdt.ErrCorrupt) {
			t.Fatalf("ParseChanges: unexpected error kind: %v", err)
		}
		if _, err := crdt.SplitChunks(b); err != nil && !errors.Is(err, crdt.ErrCorrupt) {
			t.Fatalf("splitChunks: unexpected error kind: %v", err)
		}
		first, rest := crdt.SplitFirstDocChunk(b)
		if len(first)+len(rest) != len(b) {
			t.Fatalf("splitFirstDocChunk lost bytes: %d+%d of %d", len(first), len(rest), len(b))
		}
		s := string(b)
		if _, err := crdt.ParseHeads(s); err == nil {
			var hs crdt.Heads
			if err := hs.UnmarshalText(b); err != nil {
				t.Fatalf("ParseHeads accepts %q, UnmarshalText refuses it: %v", s, err)
			}
		}
		if _, err := crdt.ParseDocumentID(s); err != nil && !errors.Is(err, crdt.ErrInvalidID) {
			t.Fatalf("ParseDocumentID: unexpected error kind: %v", err)
		}
		crdt.ParsePointer(s)
	})
}

// checkSyncParsers runs the sync-message views of b and checks that they
// agree when b parses.
func checkSyncParsers(t *testing.T, b []byte) {
	m, err := crdt.ParseRawSyncMessage(b)
	carries := crdt.CarriesChanges(b)
	heads, herr := crdt.MessageHeads(b)
	n, nerr := crdt.MessageChanges(b)
	if err != nil {
		if !errors.Is(err, crdt.ErrBadMessage) {
			t.Fatalf("parseSyncMessage: unexpected error kind: %v", err)
		}
		if nerr == nil {
			t.Fatalf("MessageChanges accepts what parseSyncMessage refuses (%v)", err)
		}
		return
	}
	if herr != nil || !heads.Equal(m.Heads()) {
		t.Fatalf("MessageHeads = %v, %v; parsed heads %v", heads, herr, m.Heads())
	}
	if nerr != nil || n != len(m.Changes()) {
		t.Fatalf("MessageChanges = %d, %v; parsed %d changes", n, nerr, len(m.Changes()))
	}
	if carries != (len(m.Changes()) > 0) {
		t.Fatalf("CarriesChanges = %v with %d changes", carries, len(m.Changes()))
	}
}
