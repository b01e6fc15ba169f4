package crdt

// Automerge's binary formats, read and written in Go (PROTOCOL.md §4): the
// framing every chunk shares, change chunks and their headers, and V1 sync
// messages. Every sync message and stored chunk is parsed here before
// automerge-rs sees it, because 0.5.0 neither verifies change checksums in
// sync messages nor survives every malformed input. The readers are total:
// any input gives a value or an error, never a panic (FuzzParse).

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"fmt"
	"io"
)

const (
	syncV1 = 0x42
	// maxListLen bounds list lengths read from untrusted messages before any
	// allocation, so a forged count cannot make us allocate gigabytes.
	maxListLen = 1 << 20
	// maxInflated bounds what one compressed change chunk may inflate to.
	maxInflated = 256 << 20
)

var chunkMagic = []byte{0x85, 0x6f, 0x4a, 0x83}

// Chunk types: the byte after a chunk's magic and checksum.
const (
	chunkDoc        = 0
	chunkChange     = 1
	chunkCompressed = 2 // a change chunk whose body is raw DEFLATE
)

// reader reads LEB128 integers, byte strings and hash lists. The first
// failure sticks in err (wrapping ErrBadMessage) and later reads return
// zero values, so a parser reads every field and checks err once.
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

// leb reads a LEB128 integer's value bits, and the shift and value of its
// last byte (for sleb's sign).
func (r *reader) leb() (v uint64, shift uint, last byte) {
	for shift = 0; shift < 64; shift += 7 {
		if r.off >= len(r.b) {
			r.fail("truncated integer")
			return 0, 0, 0
		}
		c := r.b[r.off]
		r.off++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, shift, c
		}
	}
	r.fail("integer overflow")
	return 0, 0, 0
}

// uleb reads an unsigned LEB128 integer.
func (r *reader) uleb() uint64 {
	v, _, _ := r.leb()
	return v
}

// sleb reads a signed LEB128 integer.
func (r *reader) sleb() int64 {
	v, shift, last := r.leb()
	if shift+7 < 64 && last&0x40 != 0 {
		v |= ^uint64(0) << (shift + 7)
	}
	return int64(v)
}

// take returns the next n bytes (a slice of the input, not a copy).
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

// count reads a list length, refusing one that could not fit the input.
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

// readChunk frames the chunk at the start of b: magic, checksum, type,
// LEB128 length and body. chunk is the whole chunk (chunk[8] its type);
// errors wrap ErrBadMessage.
func readChunk(b []byte) (chunk, body, rest []byte, err error) {
	if len(b) < 9 || !bytes.Equal(b[:4], chunkMagic) {
		return nil, nil, b, fmt.Errorf("%w: chunk without magic", ErrBadMessage)
	}
	r := &reader{b: b, off: 9}
	body = r.take(r.uleb())
	if r.err != nil {
		return nil, nil, b, r.err
	}
	return b[:r.off], body, b[r.off:], nil
}

// splitChunks splits concatenated Automerge chunks (stored documents,
// merges). Change chunks are parsed (hash, deps); document and compressed
// chunks come back opaque. Errors wrap ErrCorrupt.
func splitChunks(b []byte) ([]rawChange, error) {
	var out []rawChange
	for len(b) > 0 {
		chunk, _, rest, err := readChunk(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		b = rest
		switch t := chunk[8]; {
		case t > chunkCompressed:
			return nil, fmt.Errorf("%w: chunk of unknown type %d", ErrCorrupt, t)
		case t != chunkChange:
			out = append(out, rawChange{opaque: true, bytes: chunk})
		default:
			c, err := parseChange(chunk)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// splitFirstDocChunk returns the first chunk when it is a document chunk,
// and the remaining bytes (all of b otherwise).
func splitFirstDocChunk(b []byte) (first, rest []byte) {
	chunk, _, rest, err := readChunk(b)
	if err != nil || chunk[8] != chunkDoc {
		return nil, b
	}
	return chunk, rest
}

// rawChange is one change chunk as parsed by parseChange.
type rawChange struct {
	// opaque marks a compressed chunk (or, from splitChunks, a document
	// chunk), whose hash is over the uncompressed form; callers fall back
	// to asking Automerge about it, or inflate it (inflateChange).
	opaque bool
	hash   Hash
	deps   []Hash
	bytes  []byte
	// fields is the body after the deps, which header reads.
	fields []byte
}

// parseChange reads exactly one change chunk: for an uncompressed one its
// hash (SHA-256 over type, length and body) and dependencies. The checksum
// is verified here because automerge 0.5.0 does not check it in sync
// messages. The rest of the header is left to header, which only some
// callers need.
func parseChange(b []byte) (rawChange, error) {
	c := rawChange{bytes: b}
	chunk, body, rest, err := readChunk(b)
	if err != nil {
		return c, err
	}
	if t := chunk[8]; t != chunkChange && t != chunkCompressed {
		return c, fmt.Errorf("%w: change chunk of type %d", ErrBadMessage, t)
	}
	if len(rest) > 0 {
		return c, fmt.Errorf("%w: trailing bytes after change chunk", ErrBadMessage)
	}
	if chunk[8] == chunkCompressed {
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
	c.fields = body[br.off:]
	return c, nil
}

// changeHeader is what follows the deps in a change's body (the other
// actors and the op columns come after it, and are Automerge's business).
type changeHeader struct {
	actor   []byte
	seq     uint64
	startOp uint64
	time    int64
	message []byte
}

// header reads the header of an uncompressed change from parseChange. With
// all false it stops after the seq: the sequence check needs no more, and
// a chunk cut short after it is Automerge's to refuse, not this check's.
func (c rawChange) header(all bool) (changeHeader, error) {
	r := &reader{b: c.fields}
	var h changeHeader
	h.actor = r.take(r.uleb())
	h.seq = r.uleb()
	if all {
		h.startOp = r.uleb()
		h.time = r.sleb()
		h.message = r.take(r.uleb())
	}
	return h, r.err
}

// inflateChange turns a compressed change chunk (one that parseChange
// accepted as opaque) into the uncompressed chunk it stands for, whose
// hash the header's checksum must match.
func inflateChange(b []byte) (rawChange, error) {
	_, body, _, err := readChunk(b)
	if err != nil {
		return rawChange{}, err
	}
	zr := flate.NewReader(bytes.NewReader(body))
	plain, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
	if err != nil {
		return rawChange{}, fmt.Errorf("inflating change: %w", err)
	}
	if len(plain) > maxInflated {
		return rawChange{}, fmt.Errorf("compressed change inflates past %d bytes", maxInflated)
	}
	var buf bytes.Buffer
	buf.Write(chunkMagic)
	buf.Write(b[4:8]) // checked by parseChange against the new hash
	buf.WriteByte(chunkChange)
	putUleb(&buf, uint64(len(plain)))
	buf.Write(plain)
	return parseChange(buf.Bytes())
}

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

// syncReader returns a reader over a V1 sync message, past its type byte.
func syncReader(msg []byte) (*reader, error) {
	if len(msg) == 0 || msg[0] != syncV1 {
		return nil, fmt.Errorf("%w: not a V1 message", ErrBadMessage)
	}
	return &reader{b: msg, off: 1}, nil
}

// skipHaves reads past a sync message's haves (last_sync heads and a bloom
// filter each): only Automerge's own sync state uses them.
func (r *reader) skipHaves() {
	for i, n := 0, r.count(); i < n && r.err == nil; i++ {
		r.hashes()       // last_sync
		r.take(r.uleb()) // bloom
	}
}

// parseSyncMessage reads a V1 sync message. Trailing bytes (capability
// flags from newer cores) are ignored, as automerge 0.5.0 ignores them.
func parseSyncMessage(b []byte) (syncMessage, error) {
	var m syncMessage
	r, err := syncReader(b)
	if err != nil {
		return m, err
	}
	m.heads = r.hashes()
	m.need = r.hashes()
	r.skipHaves()
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

// SyncMessage is a V1 sync message as a tool reads it (ParseSyncMessage).
type SyncMessage struct {
	Heads   Heads // the sender's heads, as the message lists them
	Need    Heads // changes the sender asks for
	Changes []ChangeInfo
}

// ChangeInfo is a change carried by a sync message.
type ChangeInfo struct {
	Hash  Hash
	Deps  Heads  // as the change lists them
	Bytes []byte // the chunk as carried (a slice of the message)
}

// ParseSyncMessage reads a V1 sync message in Go, checking every change's
// checksum: safe on untrusted bytes. Compressed change chunks are inflated
// to find their hash and deps. Errors wrap ErrBadMessage.
func ParseSyncMessage(msg []byte) (SyncMessage, error) {
	m, err := parseSyncMessage(msg)
	if err != nil {
		return SyncMessage{}, err
	}
	out := SyncMessage{Heads: m.heads, Need: m.need, Changes: make([]ChangeInfo, 0, len(m.changes))}
	for i, c := range m.changes {
		info, err := changeInfo(c)
		if err != nil {
			return SyncMessage{}, fmt.Errorf("%w: change %d: %v", ErrBadMessage, i, err)
		}
		out.Changes = append(out.Changes, info)
	}
	return out, nil
}

// ParseChange reads the hash and dependencies of one change chunk
// (compressed or not), checking its checksum.
func ParseChange(chunk []byte) (ChangeInfo, error) {
	c, err := parseChange(chunk)
	if err != nil {
		return ChangeInfo{}, err
	}
	return changeInfo(c)
}

// changeInfo describes a parsed change chunk, inflating a compressed one
// for its hash and dependencies.
func changeInfo(c rawChange) (ChangeInfo, error) {
	hash, deps := c.hash, c.deps
	if c.opaque {
		u, err := inflateChange(c.bytes)
		if err != nil {
			return ChangeInfo{}, err
		}
		hash, deps = u.hash, u.deps
	}
	return ChangeInfo{Hash: hash, Deps: deps, Bytes: c.bytes}, nil
}

// ChangesMessage returns a V1 sync message that advertises heads and
// carries changes, the way a peer sends what it has made: enough for a
// document to apply them (for load tools and tests).
func ChangesMessage(heads Heads, changes [][]byte) []byte { return buildMessage(heads, nil, changes) }

// AckMessage returns the acknowledgement a peer at heads sends to say it is
// in sync (PROTOCOL.md §8 step 8).
func AckMessage(heads Heads) []byte { return buildMessage(heads, heads, nil) }

// LiveMessage returns the message a peer in sync at heads sends with new
// changes: heads, a last sync at heads and the changes, as the live path
// builds them (coalesce.go). AckMessage is LiveMessage(heads, nil). For
// clients (crdttest's Replica) and load tools.
func LiveMessage(heads Heads, changes [][]byte) []byte { return buildMessage(heads, heads, changes) }

// SyncMessageChanges returns the changes a sync message carries, with
// their hashes and dependencies (see ParseSyncMessage).
func SyncMessageChanges(msg []byte) ([]ChangeInfo, error) {
	m, err := ParseSyncMessage(msg)
	return m.Changes, err
}

// MessageHeads returns the heads a sync message advertises.
func MessageHeads(msg []byte) (Heads, error) {
	r, err := syncReader(msg)
	if err != nil {
		return nil, err
	}
	hs := r.hashes()
	return hs, r.err
}

// MessageChanges returns how many changes a sync message carries.
func MessageChanges(msg []byte) (int, error) {
	m, err := parseSyncMessage(msg)
	return len(m.changes), err
}

// CarriesChanges reports whether a sync message carries any change, reading
// only its lists' headers (no hashing): a message without changes cannot
// change a document.
func CarriesChanges(msg []byte) bool {
	r, err := syncReader(msg)
	if err != nil {
		return true // let the engine judge it
	}
	r.hashes() // heads
	r.hashes() // need
	r.skipHaves()
	n := r.count()
	return r.err != nil || n > 0
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

// encodeSyncState writes an Automerge sync state that knows only the
// shared heads: what a restarted state starts from (peer.go).
func encodeSyncState(shared Heads) []byte {
	var buf bytes.Buffer
	buf.WriteByte(0x43)
	putHashes(&buf, shared)
	return buf.Bytes()
}
