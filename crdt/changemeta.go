package crdt

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

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

// maxInflated bounds what one compressed change chunk may inflate to.
const maxInflated = 256 << 20

// ParseChanges decodes the metadata of concatenated change chunks (such as
// Result.Changes) in Go, without automerge-rs: safe on untrusted bytes.
// Compressed change chunks are inflated first; their Size is the
// uncompressed chunk's, as Change.Save reports it. Document chunks are an
// error (ErrCorrupt).
func ParseChanges(chunks []byte) ([]ChangeMeta, error) {
	raws, err := splitChunks(chunks)
	if err != nil {
		return nil, err
	}
	out := make([]ChangeMeta, 0, len(raws))
	for i, c := range raws {
		if c.opaque {
			if c.bytes[8] != 2 {
				return nil, fmt.Errorf("%w: chunk %d is of type %d, not a change", ErrCorrupt, i, c.bytes[8])
			}
			if c, err = inflateChange(c.bytes); err != nil {
				return nil, fmt.Errorf("%w: chunk %d: %v", ErrCorrupt, i, err)
			}
		}
		m, err := changeMeta(c)
		if err != nil {
			return nil, fmt.Errorf("%w: chunk %d: %v", ErrCorrupt, i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// inflateChange turns a compressed change chunk (type 2, raw DEFLATE body)
// into the uncompressed chunk it stands for, whose hash the header's
// checksum must match.
func inflateChange(b []byte) (rawChange, error) {
	r := &reader{b: b, off: 9}
	body := r.take(r.uleb())
	if r.err != nil {
		return rawChange{}, r.err
	}
	zr := flate.NewReader(bytes.NewReader(body))
	plain, err := io.ReadAll(io.LimitReader(zr, maxInflated+1))
	if err != nil {
		return rawChange{}, fmt.Errorf("inflating change: %v", err)
	}
	if len(plain) > maxInflated {
		return rawChange{}, fmt.Errorf("compressed change inflates past %d bytes", maxInflated)
	}
	var buf bytes.Buffer
	buf.Write(chunkMagic)
	buf.Write(b[4:8]) // checked by parseChange against the new hash
	buf.WriteByte(1)
	putUleb(&buf, uint64(len(plain)))
	buf.Write(plain)
	return parseChange(buf.Bytes())
}

// changeMeta reads the header of an uncompressed change chunk that
// parseChange accepted: after the deps come the actor, seq, start op,
// time, message (then other actors and the op columns, not needed here).
func changeMeta(c rawChange) (ChangeMeta, error) {
	r := &reader{b: c.bytes, off: 9}
	body := r.take(r.uleb())
	br := &reader{b: body}
	br.hashes() // deps, already in c
	actor := br.take(br.uleb())
	seq := br.uleb()
	br.uleb() // start op
	t := br.sleb()
	msg := br.take(br.uleb())
	if err := firstErr(r.err, br.err); err != nil {
		return ChangeMeta{}, err
	}
	deps := append(Heads{}, c.deps...)
	sortHeads(deps)
	return ChangeMeta{
		Hash:    c.hash,
		Actor:   hex.EncodeToString(actor),
		Seq:     seq,
		Time:    changeTime(t),
		Message: string(msg),
		Deps:    deps,
		Size:    len(c.bytes),
	}, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// sleb reads a signed LEB128 integer.
func (r *reader) sleb() int64 {
	var v int64
	for shift := uint(0); shift < 64; shift += 7 {
		if r.off >= len(r.b) {
			r.fail("truncated integer")
			return 0
		}
		c := r.b[r.off]
		r.off++
		v |= int64(c&0x7f) << shift
		if c < 0x80 {
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			return v
		}
	}
	r.fail("integer overflow")
	return 0
}

// secondsBelow: change times under this are seconds, above milliseconds.
// Automerge JS (every browser client) writes seconds, automerge-rs's C API
// and automerge-go milliseconds; 1e11 is 1973 in milliseconds and the
// year 5138 in seconds, so the two never meet in practice.
const secondsBelow = 1e11

// changeTime interprets a change's raw time (see secondsBelow).
func changeTime(t int64) time.Time {
	switch {
	case t == 0:
		return time.Time{}
	case t > -secondsBelow && t < secondsBelow:
		return time.Unix(t, 0).UTC()
	default:
		return time.UnixMilli(t).UTC()
	}
}

// commitTime is what an edit stores as its change's time: Unix seconds, as
// Automerge JS does, so the editor's history shows server edits right.
// automerge-go's Commit stores UnixMilli of the time it is given.
func commitTime(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return time.UnixMilli(t.Unix())
}
