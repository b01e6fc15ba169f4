package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Every value the Store writes is framed as
//
//	kind (1 byte) | payload length (uint32, big-endian) | CRC-32C (uint32, big-endian) | payload
//
// The CRC (Castagnoli) covers the kind byte, the length and the payload, so a flipped bit
// anywhere in the value or a truncated value is detected.
const (
	kindSnapshot    byte = 's' // a snapshot chunk (written by Compact)
	kindIncremental byte = 'i' // an incremental chunk (written by Append)
	kindSyncState   byte = 'y' // a per-peer sync state
	kindDocMeta     byte = 'm' // a document's metadata record
	kindNodeMeta    byte = 'n' // a node metadata value
	kindVersion     byte = 'v' // a named version of a document

	headerLen = 9

	// maxPayload keeps a framed value under bbolt's MaxValueSize.
	maxPayload = 1<<31 - 2 - headerLen
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeValue returns a new framed value holding a copy of payload.
func encodeValue(kind byte, payload []byte) []byte {
	v := make([]byte, headerLen+len(payload))
	v[0] = kind
	binary.BigEndian.PutUint32(v[1:5], uint32(len(payload)))
	copy(v[headerLen:], payload)
	binary.BigEndian.PutUint32(v[5:9], checksum(v))
	return v
}

func checksum(v []byte) uint32 {
	c := crc32.Checksum(v[:5], castagnoli)
	return crc32.Update(c, castagnoli, v[headerLen:])
}

// decodeValue checks a framed value and returns its kind and payload. The payload aliases v.
// The error is a bare reason; callers wrap it with corruptError.
func decodeValue(v []byte) (kind byte, payload []byte, reason string) {
	if len(v) < headerLen {
		return 0, nil, fmt.Sprintf("value of %d bytes is shorter than its %d-byte header", len(v), headerLen)
	}
	n := binary.BigEndian.Uint32(v[1:5])
	if uint64(n) != uint64(len(v)-headerLen) {
		return 0, nil, fmt.Sprintf("length mismatch: header says %d bytes, value holds %d (truncated?)", n, len(v)-headerLen)
	}
	if want, got := binary.BigEndian.Uint32(v[5:9]), checksum(v); want != got {
		return 0, nil, fmt.Sprintf("crc mismatch: stored %08x, computed %08x", want, got)
	}
	return v[0], v[headerLen:], ""
}

// decodeKind decodes v and checks that its kind is one of kinds. It returns a copy of the
// payload, safe after the transaction ends.
func decodeKind(docID string, key, v []byte, kinds ...byte) (byte, []byte, error) {
	kind, payload, reason := decodeValue(v)
	if reason != "" {
		return 0, nil, corruptError(docID, key, reason)
	}
	for _, k := range kinds {
		if kind == k {
			return kind, bytes.Clone(payload), nil
		}
	}
	return 0, nil, corruptError(docID, key, fmt.Sprintf("unexpected value kind %q", kind))
}
