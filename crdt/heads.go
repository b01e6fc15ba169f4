package crdt

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/automerge/automerge-go"
)

// Hash is an Automerge change hash.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses a hex change hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("crdt: invalid change hash %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// MarshalText renders the hash as hex, so that JSON carries it as a string.
func (h Hash) MarshalText() ([]byte, error) {
	b := make([]byte, hex.EncodedLen(len(h)))
	hex.Encode(b, h[:])
	return b, nil
}

// UnmarshalText parses a hex change hash.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// Heads is a set of change hashes as a document reports them (sorted).
//
// Heads travel in JSON, URLs and headers in one form: comma-separated hex
// hashes ("" for none), so that a version read anywhere can be passed back
// as is (?at=, If-Match, baseHeads).
type Heads []Hash

// String joins the heads as comma-separated hex.
func (hs Heads) String() string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return strings.Join(s, ",")
}

// ParseHeads parses comma-separated hex change hashes (Heads.String's
// form), sorted as a document reports them. "" is no heads.
func ParseHeads(s string) (Heads, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxListLen {
		return nil, fmt.Errorf("crdt: %d heads", len(parts))
	}
	hs := make(Heads, 0, len(parts))
	for _, p := range parts {
		h, err := ParseHash(strings.TrimSpace(p))
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	sortHeads(hs)
	return hs, nil
}

// MarshalText implements encoding.TextMarshaler.
func (hs Heads) MarshalText() ([]byte, error) { return []byte(hs.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (hs *Heads) UnmarshalText(b []byte) error {
	h, err := ParseHeads(string(b))
	if err != nil {
		return err
	}
	*hs = h
	return nil
}

// Equal reports whether both hold the same hashes in the same order.
func (hs Heads) Equal(o Heads) bool {
	if len(hs) != len(o) {
		return false
	}
	for i := range hs {
		if hs[i] != o[i] {
			return false
		}
	}
	return true
}

// containsAll reports whether every hash of want is one of hs.
func (hs Heads) containsAll(want []Hash) bool {
	for _, h := range want {
		if !slices.Contains(hs, h) {
			return false
		}
	}
	return true
}

func sortHeads(hs Heads) {
	slices.SortFunc(hs, func(a, b Hash) int { return bytes.Compare(a[:], b[:]) })
}

// heads returns a document's heads, sorted.
func heads(d *automerge.Doc) Heads {
	hs := d.Heads()
	out := make(Heads, len(hs))
	for i, h := range hs {
		out[i] = Hash(h)
	}
	sortHeads(out)
	return out
}

func toAM(hs Heads) []automerge.ChangeHash {
	out := make([]automerge.ChangeHash, len(hs))
	for i, h := range hs {
		out[i] = automerge.ChangeHash(h)
	}
	return out
}
