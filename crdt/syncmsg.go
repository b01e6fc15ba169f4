package crdt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
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

// Heads is a set of change hashes as a document reports them (sorted).
type Heads []Hash

// String joins the heads as comma-separated hex.
func (hs Heads) String() string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.String()
	}
	return strings.Join(s, ",")
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

// ErrBadMessage is returned for sync messages that do not parse.
var ErrBadMessage = errors.New("crdt: malformed sync message")

const (
	syncV1 = 0x42
	// maxListLen bounds list lengths read from untrusted messages before any
	// allocation, so a forged count cannot make us allocate gigabytes.
	maxListLen = 1 << 20
)

var chunkMagic = []byte{0x85, 0x6f, 0x4a, 0x83}

// syncMessage is the parsed V1 layout of PROTOCOL.md §4.8.
type syncMessage struct {
	// modern: the message ends with the capability section that cores
	// newer than 0.5.0 append (PROTOCOL.md §4.8); such peers accept a
	// whole document chunk in a V1 message's changes.
	modern  bool
	heads   Heads
	need    Heads
	changes []rawChange
}

// rawChange is one uncompressed change chunk inside a sync message.
type rawChange struct {
	// opaque marks a compressed chunk, whose hash is over the uncompressed
	// form; callers fall back to asking Automerge about it.
	opaque bool
	hash   Hash
	deps   []Hash
	bytes  []byte
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at byte %d", ErrBadMessage, what, r.off)
	}
}

func (r *reader) uleb() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.b) {
			r.fail("truncated integer")
			return 0
		}
		c := r.b[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.fail("integer overflow")
	return 0
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)-r.off) {
		r.fail("truncated field")
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) count() int {
	n := r.uleb()
	if n > maxListLen || n > uint64(len(r.b)) {
		r.fail("list too long")
		return 0
	}
	return int(n)
}

// hashes reads a count-prefixed list of 32-byte hashes. The count is
// checked against the bytes left before anything is allocated, and a short
// read is an error, never a conversion of a short slice (which panics).
func (r *reader) hashes() Heads {
	n := r.count()
	if r.err != nil {
		return nil
	}
	if uint64(n)*32 > uint64(len(r.b)-r.off) {
		r.fail("truncated hash list")
		return nil
	}
	hs := make(Heads, n)
	for i := range hs {
		hs[i] = Hash(r.take(32))
	}
	return hs
}

// parseSyncMessage reads a V1 sync message. Trailing bytes (capability
// flags from newer cores) are ignored, as automerge 0.5.0 ignores them.
func parseSyncMessage(b []byte) (syncMessage, error) {
	var m syncMessage
	if len(b) == 0 || b[0] != syncV1 {
		return m, fmt.Errorf("%w: not a V1 message", ErrBadMessage)
	}
	r := &reader{b: b, off: 1}
	m.heads = r.hashes()
	m.need = r.hashes()
	haves := r.count()
	for i := 0; i < haves && r.err == nil; i++ {
		r.hashes()       // last_sync
		r.take(r.uleb()) // bloom
	}
	n := r.count()
	for i := 0; i < n && r.err == nil; i++ {
		c, err := parseChange(r.take(r.uleb()))
		if r.err == nil && err != nil {
			return m, err
		}
		m.changes = append(m.changes, c)
	}
	if r.err != nil {
		return m, r.err
	}
	m.modern = r.off < len(b)
	return m, nil
}

// parseChange reads the header of an uncompressed change chunk: its hash
// (SHA-256 over type, length and body) and dependencies. The checksum is
// verified here because automerge 0.5.0 does not check it in sync messages.
func parseChange(b []byte) (rawChange, error) {
	c := rawChange{bytes: b}
	if len(b) < 9 || !bytes.Equal(b[:4], chunkMagic) {
		return c, fmt.Errorf("%w: change chunk without magic", ErrBadMessage)
	}
	if b[8] != 1 && b[8] != 2 {
		return c, fmt.Errorf("%w: change chunk of type %d", ErrBadMessage, b[8])
	}
	r := &reader{b: b, off: 9}
	body := r.take(r.uleb())
	if r.err != nil {
		return c, r.err
	}
	if r.off != len(b) {
		return c, fmt.Errorf("%w: trailing bytes after change chunk", ErrBadMessage)
	}
	if b[8] == 2 {
		c.opaque = true
		return c, nil
	}
	c.hash = sha256.Sum256(b[8:])
	if !bytes.Equal(c.hash[:4], b[4:8]) {
		return c, fmt.Errorf("%w: change checksum mismatch", ErrBadMessage)
	}
	br := &reader{b: body}
	c.deps = br.hashes()
	if br.err != nil {
		return c, br.err
	}
	return c, nil
}

func putUleb(buf *bytes.Buffer, v uint64) {
	for v >= 0x80 {
		buf.WriteByte(byte(v) | 0x80)
		v >>= 7
	}
	buf.WriteByte(byte(v))
}

func putHashes(buf *bytes.Buffer, hs Heads) {
	putUleb(buf, uint64(len(hs)))
	for _, h := range hs {
		buf.Write(h[:])
	}
}

// buildMessage builds a V1 sync message with our heads, no need, one have
// whose last_sync is lastSync with an empty bloom filter, and the given
// change chunks. With no changes and lastSync = heads it is the "already in
// sync" acknowledgement of PROTOCOL.md §8 step 8.
func buildMessage(heads, lastSync Heads, changes [][]byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(syncV1)
	putHashes(&buf, heads)
	putUleb(&buf, 0) // need
	putUleb(&buf, 1) // one have
	putHashes(&buf, lastSync)
	putUleb(&buf, 0) // empty bloom
	putUleb(&buf, uint64(len(changes)))
	for _, c := range changes {
		putUleb(&buf, uint64(len(c)))
		buf.Write(c)
	}
	return buf.Bytes()
}
