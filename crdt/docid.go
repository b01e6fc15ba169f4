package crdt

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math/big"
)

const b58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// maxIDPayload caps the decoded payload; automerge-repo does not check the
// length (PROTOCOL.md §4.7) but a server must bound what it stores.
const maxIDPayload = 64

var b58Index = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(b58Alphabet); i++ {
		t[b58Alphabet[i]] = int8(i)
	}
	return t
}()

// ParseDocumentID checks that s is a bare bs58check document id (no
// "automerge:" prefix) and returns its payload.
func ParseDocumentID(s string) ([]byte, error) {
	if len(s) == 0 || len(s) > 2*(maxIDPayload+4) {
		return nil, fmt.Errorf("%w: length %d", ErrInvalidID, len(s))
	}
	raw, err := b58Decode(s)
	if err != nil {
		return nil, err
	}
	if len(raw) < 5 {
		return nil, fmt.Errorf("%w: too short", ErrInvalidID)
	}
	payload, sum := raw[:len(raw)-4], raw[len(raw)-4:]
	if len(payload) > maxIDPayload {
		return nil, fmt.Errorf("%w: payload of %d bytes", ErrInvalidID, len(payload))
	}
	want := checksum(payload)
	if string(want[:]) != string(sum) {
		return nil, fmt.Errorf("%w: bad checksum", ErrInvalidID)
	}
	return payload, nil
}

// ValidDocumentID reports whether s is a valid document id.
func ValidDocumentID(s string) bool {
	_, err := ParseDocumentID(s)
	return err == nil
}

// EncodeDocumentID returns the bs58check form of payload.
func EncodeDocumentID(payload []byte) string {
	sum := checksum(payload)
	return b58Encode(append(append([]byte{}, payload...), sum[:]...))
}

// NewDocumentID returns a fresh random id (16 random bytes, like
// automerge-repo's generateAutomergeUrl).
func NewDocumentID() string {
	var p [16]byte
	if _, err := rand.Read(p[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	p[6] = p[6]&0x0f | 0x40 // UUID v4 layout, as uuid.v4 produces
	p[8] = p[8]&0x3f | 0x80
	return EncodeDocumentID(p[:])
}

func checksum(p []byte) [4]byte {
	a := sha256.Sum256(p)
	b := sha256.Sum256(a[:])
	return [4]byte(b[:4])
}

func b58Decode(s string) ([]byte, error) {
	n := new(big.Int)
	radix := big.NewInt(58)
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	for i := 0; i < len(s); i++ {
		v := b58Index[s[i]]
		if v < 0 {
			return nil, fmt.Errorf("%w: character %q", ErrInvalidID, s[i])
		}
		n.Mul(n, radix)
		n.Add(n, big.NewInt(int64(v)))
	}
	return append(make([]byte, zeros), n.Bytes()...), nil
}

func b58Encode(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	n := new(big.Int).SetBytes(b)
	radix := big.NewInt(58)
	mod := new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, b58Alphabet[mod.Int64()])
	}
	for i := 0; i < zeros; i++ {
		out = append(out, '1')
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}
