package crdt

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// The worker protocol: each frame is a 4-byte big-endian length and a CBOR
// body. The parent writes requests on the worker's stdin; the worker answers
// each, in order, on its stdout.

const maxFrame = 1 << 30

type op uint8

const (
	opOpen op = iota + 1
	opReceive
	opGenerate
	opSetPeer
	opPeerState
	opDropPeer
	opSave
	opHeads
	opClose
	opProbe
	opMerge
	opReceiveAll
	// The server-side API (pool_api.go): requests and answers as JSON in
	// Data.
	opEdit
	opView
	opHistory
	opStats
	opContains
)

type request struct {
	ID    uint64   `cbor:"1,keyasint"`
	Op    op       `cbor:"2,keyasint"`
	Doc   string   `cbor:"3,keyasint,omitempty"`
	Peer  string   `cbor:"4,keyasint,omitempty"`
	Data  []byte   `cbor:"5,keyasint,omitempty"`
	Peers []string `cbor:"6,keyasint,omitempty"`
	// Nil distinguishes "fresh state" from an empty saved state in SetPeer.
	Nil bool `cbor:"7,keyasint,omitempty"`
	// All carries the messages of opReceiveAll (Peer, Data, Peers each).
	All []request `cbor:"9,keyasint,omitempty"`
	// SamePeers (in All) says Peers are those of the message before: a
	// burst from one writer names the same peers for every message.
	SamePeers bool   `cbor:"10,keyasint,omitempty"`
	Msg       []byte `cbor:"8,keyasint,omitempty"`
}

type wireOut struct {
	Peer string `cbor:"1,keyasint"`
	Msg  []byte `cbor:"2,keyasint,omitempty"`
	// Same, when not zero, says Msg is that of the Same-th message of the
	// list (one-based): one message fanned out to many peers crosses the
	// pipe once.
	Same int `cbor:"3,keyasint,omitempty"`
}

// packOut lists outgoing messages for the pipe, each distinct one once.
func packOut(out []Outgoing) []wireOut {
	if len(out) == 0 {
		return nil
	}
	w := make([]wireOut, len(out))
	seen := map[*byte]int{}
	for i, o := range out {
		w[i].Peer = o.Peer
		if len(o.Msg) == 0 {
			w[i].Msg = o.Msg
			continue
		}
		if j, ok := seen[&o.Msg[0]]; ok && len(out[j].Msg) == len(o.Msg) {
			w[i].Same = j + 1
			continue
		}
		seen[&o.Msg[0]] = i
		w[i].Msg = o.Msg
	}
	return w
}

// unpackOut undoes packOut.
func unpackOut(w []wireOut) []Outgoing {
	if len(w) == 0 {
		return nil
	}
	out := make([]Outgoing, len(w))
	for i, o := range w {
		out[i] = Outgoing{Peer: o.Peer, Msg: o.Msg}
		if o.Same > 0 && o.Same <= i {
			out[i].Msg = out[o.Same-1].Msg
		}
	}
	return out
}

type response struct {
	ID      uint64    `cbor:"1,keyasint"`
	Err     string    `cbor:"2,keyasint,omitempty"`
	Kind    uint8     `cbor:"3,keyasint,omitempty"`
	Data    []byte    `cbor:"4,keyasint,omitempty"`
	Changes []byte    `cbor:"5,keyasint,omitempty"`
	N       int       `cbor:"6,keyasint,omitempty"`
	Heads   []byte    `cbor:"7,keyasint,omitempty"`
	Their   []byte    `cbor:"8,keyasint,omitempty"`
	Out     []wireOut `cbor:"9,keyasint,omitempty"`
	Waiting int       `cbor:"10,keyasint,omitempty"`
	// All carries the per-message answers of opReceiveAll.
	All []response `cbor:"11,keyasint,omitempty"`
	// Mem is Stats.Memory.
	Mem int64 `cbor:"12,keyasint,omitempty"`
}

// Error kinds carried across the pipe, so sentinels survive it.
var errKinds = []error{nil, ErrNotOpen, ErrCorrupt, ErrTooLarge, ErrBadMessage, ErrInvalidID, ErrBadEdit, ErrDamaged}

func kindOf(err error) uint8 {
	for i, e := range errKinds {
		if e != nil && errors.Is(err, e) {
			return uint8(i)
		}
	}
	return 0
}

func errOf(kind uint8, msg string) error {
	if msg == "" {
		return nil
	}
	if int(kind) < len(errKinds) && errKinds[kind] != nil {
		return wireError{msg: msg, kind: errKinds[kind]}
	}
	return errors.New(msg)
}

// wireError keeps the worker's message and matches the original sentinel.
type wireError struct {
	msg  string
	kind error
}

func (e wireError) Error() string { return e.msg }
func (e wireError) Unwrap() error { return e.kind }

func packHeads(hs Heads) []byte {
	b := make([]byte, 0, 32*len(hs))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func unpackHeads(b []byte) Heads {
	hs := make(Heads, len(b)/32)
	for i := range hs {
		copy(hs[i][:], b[i*32:])
	}
	return hs
}

func writeFrame(w *bufio.Writer, v any) error {
	body, err := cbor.Marshal(v)
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Flush()
}

func readFrame(r *bufio.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("crdt: frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	return cbor.Unmarshal(body, v)
}
