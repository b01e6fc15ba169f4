package session_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/weft-dev/weft/session"
)

const goldenDir = "../testdata/cbor"

// expectedMessage builds the Message a golden .json file describes. Keys
// Message does not model (newHeads, add, remove) are ignored, as the
// server ignores them.
func expectedMessage(t *testing.T, js []byte) session.Message {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(js, &v); err != nil {
		t.Fatal(err)
	}
	str := func(x any) string {
		if s, ok := x.(string); ok {
			return s
		}
		if m, ok := x.(map[string]any); ok && m["$undefined"] == true {
			return "" // CBOR undefined decodes to the zero value
		}
		t.Fatalf("unexpected JSON value %#v", x)
		return ""
	}
	var m session.Message
	for k, x := range v {
		switch k {
		case "type":
			m.Type = str(x)
		case "senderId":
			m.SenderID = str(x)
		case "targetId":
			m.TargetID = str(x)
		case "documentId":
			m.DocumentID = str(x)
		case "sessionId":
			m.SessionID = str(x)
		case "message":
			m.Message = str(x)
		case "selectedProtocolVersion":
			m.SelectedProtocolVersion = str(x)
		case "count":
			m.Count = uint64(x.(float64))
		case "data":
			b, err := hex.DecodeString(x.(map[string]any)["$bytes"].(string))
			if err != nil {
				t.Fatal(err)
			}
			m.Data = b
		case "supportedProtocolVersions":
			for _, s := range x.([]any) {
				m.SupportedProtocolVersions = append(m.SupportedProtocolVersions, str(s))
			}
		case "peerMetadata":
			md := x.(map[string]any)
			m.PeerMetadata = &session.PeerMetadata{StorageID: str(md["storageId"]), IsEphemeral: md["isEphemeral"].(bool)}
		case "newHeads", "add", "remove":
		default:
			t.Fatalf("golden file has a key the test does not know: %q", k)
		}
	}
	return m
}

func TestDecodeGolden(t *testing.T) {
	cases := []struct {
		name  string
		check func(t *testing.T, m session.Message)
	}{
		{"join-with-storage", func(t *testing.T, m session.Message) {
			if m.PeerMetadata == nil || m.PeerMetadata.StorageID != "3f9a1c2e-7b4d-4e8f-9a6b-1c2d3e4f5a6b" || m.PeerMetadata.IsEphemeral {
				t.Errorf("peerMetadata = %+v", m.PeerMetadata)
			}
		}},
		{"join-without-storage", func(t *testing.T, m session.Message) {
			// storageId is CBOR undefined (f7) with its key present.
			if m.PeerMetadata == nil || m.PeerMetadata.StorageID != "" || !m.PeerMetadata.IsEphemeral {
				t.Errorf("peerMetadata = %+v", m.PeerMetadata)
			}
		}},
		{"peer", nil},
		{"sync", func(t *testing.T, m session.Message) {
			if want := []byte{0x42, 0, 0, 1, 0, 0, 0, 2, 2, 0x84}; !bytes.Equal(m.Data, want) {
				t.Errorf("data = %x, want %x", m.Data, want)
			}
		}},
		{"request", nil},
		{"ephemeral", func(t *testing.T, m session.Message) {
			if m.Count != 7 || m.SessionID != "k2x9q8w7e6r5" {
				t.Errorf("count %d session %q", m.Count, m.SessionID)
			}
		}},
		{"ephemeral-large-count", func(t *testing.T, m session.Message) {
			if m.Count != 1<<31+5 {
				t.Errorf("count = %d, want %d", m.Count, uint64(1<<31+5))
			}
		}},
		{"remote-heads-changed", nil}, // float64 timestamp: decodes, ignored
		{"remote-subscription-change", nil},
		{"leave", nil},
		{"error", func(t *testing.T, m session.Message) {
			if m.Message != "unsupported protocol version" {
				t.Errorf("message = %q", m.Message)
			}
		}},
		{"doc-unavailable", func(t *testing.T, m session.Message) {
			if m.Data != nil {
				t.Errorf("data = %x, want none", m.Data)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join(goldenDir, tc.name+".cbor"))
			if err != nil {
				t.Fatal(err)
			}
			js, err := os.ReadFile(filepath.Join(goldenDir, tc.name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			// cbor-x writes non-minimal 16-bit map headers.
			if frame[0] != 0xb9 || frame[1] != 0x00 {
				t.Fatalf("golden frame does not start with b9 00: %x", frame[:3])
			}
			got, err := session.Decode(frame)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if want := expectedMessage(t, js); !reflect.DeepEqual(got, want) {
				t.Fatalf("Decode =\n%+v\nwant\n%+v", got, want)
			}
			if tc.check != nil {
				tc.check(t, got)
			}
			again, err := session.Decode(session.Encode(got))
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("re-encoded frame decodes to %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		msg  session.Message
	}{
		{"peer", session.Message{Type: session.TypePeer, SenderID: "weft-x", TargetID: "peer-1",
			SelectedProtocolVersion: "1", PeerMetadata: &session.PeerMetadata{StorageID: "sid", IsEphemeral: false}}},
		{"join ephemeral", session.Message{Type: session.TypeJoin, SenderID: "peer-1",
			PeerMetadata: &session.PeerMetadata{IsEphemeral: true}, SupportedProtocolVersions: []string{"1", "2"}}},
		{"sync", session.Message{Type: session.TypeSync, SenderID: "a", TargetID: "b",
			DocumentID: "4NMNnkMhL8jXrdJ9jamS58PAVdXu", Data: []byte{0x42, 1, 2, 3}}},
		{"ephemeral", session.Message{Type: session.TypeEphemeral, SenderID: "a", TargetID: "b",
			DocumentID: "4NMNnkMhL8jXrdJ9jamS58PAVdXu", Count: 1 << 40, SessionID: "s", Data: []byte{0xa0}}},
		{"error", session.Message{Type: session.TypeError, SenderID: "a", TargetID: "b", Message: "nope"}},
		{"type only", session.Message{Type: session.TypeLeave}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			frame := session.Encode(tc.msg)
			got, err := session.Decode(frame)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Fatalf("got %+v, want %+v", got, tc.msg)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	sync, err := os.ReadFile(filepath.Join(goldenDir, "sync.cbor"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"array", []byte{0x81, 0x01}},
		{"text", []byte{0x64, 't', 'y', 'p', 'e'}},
		{"integer", []byte{0x01}},
		{"truncated", sync[:len(sync)-3]},
		{"map header only", []byte{0xb9, 0x00, 0x05}},
		{"trailing bytes", append(bytes.Clone(sync), 0x00)},
		{"two messages", append(bytes.Clone(sync), sync...)},
		{"no type", session.Encode(session.Message{SenderID: "x"})},
		{"empty map", []byte{0xa0}},
		{"type not text", []byte{0xa1, 0x64, 't', 'y', 'p', 'e', 0x01}},
		{"data not bytes", []byte{0xa2, 0x64, 't', 'y', 'p', 'e', 0x64, 's', 'y', 'n', 'c', 0x64, 'd', 'a', 't', 'a', 0x01}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := session.Decode(tc.frame)
			if !errors.Is(err, session.ErrDecode) {
				t.Fatalf("Decode(%x) = %+v, %v; want ErrDecode", tc.frame, m, err)
			}
		})
	}
}
