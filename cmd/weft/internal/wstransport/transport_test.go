package wstransport

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/olahol/melody"

	"github.com/weft-dev/weft/storage/testwait"
)

// A panic while serving one WebSocket (melody runs it off net/http's
// goroutine, where net/http no longer catches it) is recovered: that
// connection is dropped, its admission slot is released, and the server
// goes on serving.
func TestUpgradeRecoversPanic(t *testing.T) {
	m := melody.New()
	m.HandleMessageBinary(func(s *melody.Session, b []byte) {
		if string(b) == "boom" {
			panic("handler bug")
		}
		s.WriteBinary(b)
	})
	var released, panics atomic.Int32
	logs := &testwait.Log{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upgrade(m, w, r, nil, func() { released.Add(1) }, log, func() { panics.Add(1) })
	}))
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	bad, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if err := bad.WriteMessage(websocket.BinaryMessage, []byte("boom")); err != nil {
		t.Fatal(err)
	}
	bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := bad.ReadMessage(); err == nil {
		t.Fatal("the panicking connection is still open")
	} else if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		t.Fatal("the panicking connection was not closed")
	}
	testwait.Until(t, 5*time.Second, "the admission slot to be released", func() bool { return released.Load() == 1 })
	if released.Load() != 1 {
		t.Fatalf("admission slot released %d times, want 1", released.Load())
	}
	if panics.Load() != 1 {
		t.Fatalf("panic counted %d times, want 1", panics.Load())
	}
	got := logs.String()
	if !strings.Contains(got, "panic serving a WebSocket connection") || !strings.Contains(got, "handler bug") {
		t.Fatalf("panic not logged: %q", got)
	}

	good, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("server gone after the panic: %v", err)
	}
	defer good.Close()
	if err := good.WriteMessage(websocket.BinaryMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	good.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, b, err := good.ReadMessage(); err != nil || string(b) != "hello" {
		t.Fatalf("echo after the panic: %q, %v", b, err)
	}
	// Close melody (its hub goroutine) only once both connections are over:
	// a session still ending would block unregistering from a closed hub.
	good.Close()
	testwait.Until(t, 5*time.Second, "the second admission slot to be released", func() bool { return released.Load() == 2 })
	m.Close()
}
