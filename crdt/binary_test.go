package crdt_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

func TestParseSyncMessage(t *testing.T) {
	r := crdttest.NewReplica()
	var chunks [][]byte
	for _, s := range []string{"a", "b", "c"} {
		if err := r.SpliceText("text", 0, 0, s); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, r.LastChange())
	}
	// A compressed change travels too; its hash is the uncompressed one's.
	d := automerge.New()
	d.Path("t").Set(automerge.NewText(strings.Repeat("abcdefgh", 500)))
	h, _ := d.Commit("big")
	c, _ := d.Change(h)
	chunks = append(chunks, deflateChange(t, c.Save()))
	hs := r.Heads()
	m, err := crdt.ParseSyncMessage(crdt.BuildMessage(hs, nil, chunks))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Heads.Equal(hs) || len(m.Need) != 0 || len(m.Changes) != 4 {
		t.Fatalf("heads %v need %v, %d changes", m.Heads, m.Need, len(m.Changes))
	}
	metas, err := crdt.ParseChanges(bytes.Join(chunks[:3], nil))
	if err != nil {
		t.Fatal(err)
	}
	for i, meta := range metas {
		ci := m.Changes[i]
		if ci.Hash != meta.Hash || !crdt.Heads(ci.Deps).Equal(meta.Deps) || !bytes.Equal(ci.Bytes, chunks[i]) {
			t.Fatalf("change %d: %+v, want %+v", i, ci, meta)
		}
	}
	if big := m.Changes[3]; big.Hash != crdt.Hash(h) || len(big.Deps) != 0 || !bytes.Equal(big.Bytes, chunks[3]) {
		t.Fatalf("compressed change: hash %v deps %v", big.Hash, big.Deps)
	}
	if cs, err := crdt.SyncMessageChanges(crdt.AckMessage(hs)); err != nil || len(cs) != 0 {
		t.Fatalf("ack: %v %v", cs, err)
	}
	bad := bytes.Clone(chunks[0])
	bad[len(bad)-1] ^= 1
	for name, msg := range map[string][]byte{
		"empty":      nil,
		"V2":         {0x43, 0},
		"truncated":  {0x42, 5},
		"bad change": crdt.BuildMessage(hs, nil, [][]byte{bad}),
	} {
		if _, err := crdt.SyncMessageChanges(msg); !errors.Is(err, crdt.ErrBadMessage) {
			t.Errorf("%s: %v, want ErrBadMessage", name, err)
		}
	}
}

// FuzzSyncMessageChanges checks that the exported sync-message parser is
// total and agrees with the engine's own.
func FuzzSyncMessageChanges(f *testing.F) {
	c := crdttest.NewReplica()
	c.SpliceText("text", 0, 0, "hello fuzz")
	f.Add(crdt.BuildMessage(c.Heads(), nil, [][]byte{c.LastChange()}))
	f.Add([]byte{0x42, 0, 0, 0, 1, 9, 0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := crdt.SyncMessageChanges(b)
		m, merr := crdt.ParseRawSyncMessage(b)
		if err != nil {
			if !errors.Is(err, crdt.ErrBadMessage) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if merr != nil || len(cs) != len(m.Changes()) {
			t.Fatalf("%d changes, parseSyncMessage: %d, %v", len(cs), len(m.Changes()), merr)
		}
	})
}
