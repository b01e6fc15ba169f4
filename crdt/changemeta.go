package crdt

import (
	"encoding/hex"
	"fmt"
	"time"
)

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
			if c.bytes[8] != chunkCompressed {
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

// changeMeta describes an uncompressed change that parseChange accepted.
func changeMeta(c rawChange) (ChangeMeta, error) {
	h, err := c.header(true)
	if err != nil {
		return ChangeMeta{}, err
	}
	deps := append(Heads{}, c.deps...)
	sortHeads(deps)
	return ChangeMeta{
		Hash:    c.hash,
		Actor:   hex.EncodeToString(h.actor),
		Seq:     h.seq,
		Time:    changeTime(h.time),
		Message: string(h.message),
		Deps:    deps,
		Size:    len(c.bytes),
	}, nil
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
