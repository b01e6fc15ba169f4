package syncmsg

// TODO(issue 13): use crdt's parser
//
// This file is weft-bench's own copy of a V1 sync-message and change-chunk
// parser (and the builder), kept apart until crdt's parsers are unified.

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/weft-dev/weft/crdt"
)

// ErrFormat is the error (wrapped) of every message or chunk that does not
// parse.
var ErrFormat = errors.New("malformed sync message")

// reader reads LEB128 integers and byte runs; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) uleb() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.b) {
			r.err = ErrFormat
			return 0
		}
		c := r.b[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.err = ErrFormat
	return 0
}

func (r *reader) take(n uint64) []byte {
	if r.err != nil || n > uint64(len(r.b)-r.off) {
		r.err = ErrFormat
		return nil
	}
	b := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return b
}

func (r *reader) hashes() []crdt.Hash {
	n := r.uleb()
	if r.err != nil || n > uint64(len(r.b)-r.off)/32 {
		r.err = ErrFormat
		return nil
	}
	hs := make([]crdt.Hash, n)
	for i := range hs {
		hs[i] = crdt.Hash(r.take(32))
	}
	return hs
}

var chunkMagic = []byte{0x85, 0x6f, 0x4a, 0x83}

// Parse reads a V1 sync message. A V2 message (0x43, which automerge
// 0.5.0 cannot read either) is an error. Trailing capability bytes from
// newer cores are ignored.
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) == 0 || b[0] != 0x42 {
		if len(b) > 0 && b[0] == 0x43 {
			return m, fmt.Errorf("%w: a V2 (0x43) message, which automerge 0.5.0 cannot read", ErrFormat)
		}
		return m, fmt.Errorf("%w: not a V1 message", ErrFormat)
	}
	r := &reader{b: b, off: 1}
	m.Heads = r.hashes()
	m.Need = r.hashes()
	haves := r.uleb()
	for i := uint64(0); i < haves && r.err == nil; i++ {
		r.hashes()
		r.take(r.uleb())
	}
	n := r.uleb()
	for i := uint64(0); i < n && r.err == nil; i++ {
		raw := r.take(r.uleb())
		if r.err != nil {
			break
		}
		c, err := ParseChange(raw)
		if err != nil {
			return m, err
		}
		m.Changes = append(m.Changes, c)
	}
	if r.err != nil {
		return m, r.err
	}
	return m, nil
}

// ParseChange reads the hash and dependencies of an uncompressed change
// chunk: magic, checksum, type 1, LEB length, body starting with the deps.
func ParseChange(raw []byte) (Change, error) {
	c := Change{Raw: raw}
	if len(raw) < 9 || !bytes.Equal(raw[:4], chunkMagic) || raw[8] != 1 {
		return c, fmt.Errorf("%w: not an uncompressed change chunk", ErrFormat)
	}
	c.Hash = sha256.Sum256(raw[8:])
	if !bytes.Equal(c.Hash[:4], raw[4:8]) {
		return c, fmt.Errorf("%w: change checksum mismatch", ErrFormat)
	}
	r := &reader{b: raw, off: 9}
	body := r.take(r.uleb())
	br := &reader{b: body}
	c.Deps = br.hashes()
	if r.err != nil || br.err != nil {
		return c, fmt.Errorf("%w: truncated change chunk", ErrFormat)
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

// Build builds a V1 sync message with the given heads, no need, no
// have and the given change chunks: enough for a Replica to apply them.
func Build(heads []crdt.Hash, chunks [][]byte) []byte {
	var buf bytes.Buffer
	buf.WriteByte(0x42)
	putUleb(&buf, uint64(len(heads)))
	for _, h := range heads {
		buf.Write(h[:])
	}
	putUleb(&buf, 0) // need
	putUleb(&buf, 0) // have
	putUleb(&buf, uint64(len(chunks)))
	for _, c := range chunks {
		putUleb(&buf, uint64(len(c)))
		buf.Write(c)
	}
	return buf.Bytes()
}
