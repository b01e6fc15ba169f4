package session

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Message types of the automerge-repo WebSocket protocol (PROTOCOL.md §3–§4).
const (
	TypeJoin            = "join"
	TypePeer            = "peer"
	TypeError           = "error"
	TypeLeave           = "leave"
	TypeSync            = "sync"
	TypeRequest         = "request"
	TypeDocUnavailable  = "doc-unavailable"
	TypeEphemeral       = "ephemeral"
	TypeRemoteSubChange = "remote-subscription-change"
	TypeRemoteHeads     = "remote-heads-changed"
)

// ProtocolVersion is the only version automerge-repo 2.5.x speaks.
const ProtocolVersion = "1"

// Message is one frame of the protocol: a CBOR map with text keys. Fields
// that a message type does not use are left empty and not encoded.
type Message struct {
	Type                      string        `cbor:"type"`
	SenderID                  string        `cbor:"senderId,omitempty"`
	TargetID                  string        `cbor:"targetId,omitempty"`
	DocumentID                string        `cbor:"documentId,omitempty"`
	Data                      []byte        `cbor:"data,omitempty"`
	Count                     uint64        `cbor:"count,omitempty"`
	SessionID                 string        `cbor:"sessionId,omitempty"`
	PeerMetadata              *PeerMetadata `cbor:"peerMetadata,omitempty"`
	SupportedProtocolVersions []string      `cbor:"supportedProtocolVersions,omitempty"`
	SelectedProtocolVersion   string        `cbor:"selectedProtocolVersion,omitempty"`
	Message                   string        `cbor:"message,omitempty"`
}

// PeerMetadata is what a peer says about itself in join and peer.
// A StorageID sent as CBOR undefined decodes to "".
type PeerMetadata struct {
	StorageID   string `cbor:"storageId,omitempty"`
	IsEphemeral bool   `cbor:"isEphemeral"`
}

var (
	decMode = func() cbor.DecMode {
		m, err := cbor.DecOptions{
			MaxNestedLevels:  16,
			MaxArrayElements: 1 << 16,
			MaxMapPairs:      1 << 12,
			// cbor-x never tags byte strings; reject tricks.
			ExtraReturnErrors: cbor.ExtraDecErrorNone,
		}.DecMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
	encMode = func() cbor.EncMode {
		m, err := cbor.EncOptions{}.EncMode()
		if err != nil {
			panic(err)
		}
		return m
	}()
)

// Decode parses one frame. It fails for anything but a single CBOR map
// with a text "type".
func Decode(frame []byte) (Message, error) {
	var m Message
	if len(frame) == 0 {
		return m, fmt.Errorf("%w: empty frame", ErrDecode)
	}
	// A map header: major type 5.
	if frame[0]>>5 != 5 {
		return m, fmt.Errorf("%w: not a CBOR map", ErrDecode)
	}
	rest, err := decMode.UnmarshalFirst(frame, &m)
	if err != nil {
		return m, fmt.Errorf("%w: %v", ErrDecode, err)
	}
	if len(rest) != 0 {
		return m, fmt.Errorf("%w: %d trailing bytes", ErrDecode, len(rest))
	}
	if m.Type == "" {
		return m, fmt.Errorf("%w: no type", ErrDecode)
	}
	return m, nil
}

// Encode serializes a message.
func Encode(m Message) []byte {
	b, err := encMode.Marshal(m)
	if err != nil {
		// Message has only strings, bytes, ints and bools: this cannot fail.
		panic(fmt.Sprintf("session: encoding %s: %v", m.Type, err))
	}
	return b
}
