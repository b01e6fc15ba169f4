package main

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage/testwait"
)

// twoBytes is a V1 sync-message header that announces one head and ends:
// it used to panic in the server's own parser and end the process.
var twoBytes = []byte{0x42, 0x01}

// TestTwoByteSyncMessageOverWebSocket: its sender gets an error message and
// close 4504; the server keeps serving every other client.
func TestTwoByteSyncMessageOverWebSocket(t *testing.T) {
	s, honest, id := honestPeer(t)

	evil := dial(t, s, "evil", dialOpts{})
	if err := evil.send(session.Message{Type: session.TypeSync, SenderID: "evil", DocumentID: id, Data: twoBytes}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-evil.got:
		if m.Type != session.TypeError || !strings.Contains(m.Message, "malformed") {
			t.Fatalf("evil peer got %+v, want an error naming a malformed message", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no error message for the two-byte sync message")
	}
	select {
	case <-evil.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the sender was not closed")
	}
	var ce *websocket.CloseError
	if !errors.As(evil.closeErr, &ce) || ce.Code != session.CloseBadSyncMessage {
		t.Fatalf("sender closed with %v, want %d", evil.closeErr, session.CloseBadSyncMessage)
	}
	keepsServing(t, s, honest, id)
}

// TestTwoByteSyncMessageOverHTTP: POST /api/docs/{id}/sync with the same
// message is refused with a JSON error; the server keeps serving.
func TestTwoByteSyncMessageOverHTTP(t *testing.T) {
	s, honest, id := honestPeer(t)

	r := call(t, "POST", s.url+"/api/docs/"+id+"/sync", map[string]any{
		"peerId": "evil-http", "messages": []string{base64.StdEncoding.EncodeToString(twoBytes)}})
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("two-byte message over HTTP sync: status %d, want a 4xx", r.status)
	}
	if body := string(r.body); !strings.Contains(body, "malformed") {
		t.Fatalf("two-byte message over HTTP sync: body %s, want an error naming a malformed message", body)
	}
	keepsServing(t, s, honest, id)
}

// honestPeer starts a server with a document that an honest peer has open.
func honestPeer(t *testing.T) (*server, *wsClient, string) {
	t.Helper()
	s := startServer(t, "")
	id := createDoc(t, s, map[string]any{"text": "abc"})
	honest := dial(t, s, "honest", dialOpts{})
	if err := honest.open(id); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "the honest peer has the document", func() bool { return honest.text(id) == "abc" })
	return s, honest, id
}

// keepsServing checks /healthz and that an honest peer's edit still
// reaches the API.
func keepsServing(t *testing.T, s *server, honest *wsClient, id string) {
	t.Helper()
	if code, _ := httpGet(t, s.url+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz %d", code)
	}
	if err := honest.edit(id, 3, 0, "d"); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, 5*time.Second, "the honest peer's edit in the API", func() bool {
		doc, _ := docJSON(t, s, id, "")
		return doc["text"] == "abcd"
	})
}
