package recovery

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/weft-dev/weft/storage/testwait"
)

// A panicking handler answers 500 with the JSON error body, is logged
// once with its stack and counted, and the server goes on serving; a
// panic after the response started leaves that response alone.
func TestHandlerPanicIs500AndServerKeepsServing(t *testing.T) {
	logs := &testwait.Log{}
	var panics atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/boom", func(http.ResponseWriter, *http.Request) { panic("handler bug") })
	mux.HandleFunc("/late", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("after the header")
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "fine") })
	srv := httptest.NewServer(HTTP(mux, slog.New(slog.NewTextHandler(logs, nil)), func() { panics.Add(1) }))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/boom")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if resp.StatusCode != http.StatusInternalServerError || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		json.Unmarshal(body, &e) != nil || e.Error.Code != "internal" || e.Error.Message == "" {
		t.Fatalf("panic answered %d %s %q; want 500 JSON with code internal", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if strings.Contains(string(body), "handler bug") || strings.Contains(string(body), "goroutine") {
		t.Fatalf("the panic leaked into the body: %q", body)
	}
	if got := strings.Count(logs.String(), "panic serving an HTTP request"); got != 1 || !strings.Contains(logs.String(), "handler bug") || !strings.Contains(logs.String(), "recovery_test.go") {
		t.Fatalf("want one log line with the panic and its stack, got %d: %s", got, logs.String())
	}

	resp, err = http.Get(srv.URL + "/late")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("a panic after the header changed the status to %d", resp.StatusCode)
	}
	if panics.Load() != 2 {
		t.Fatalf("panics counted %d, want 2", panics.Load())
	}

	resp, err = http.Get(srv.URL + "/ok")
	if err != nil {
		t.Fatalf("server gone after the panics: %v", err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "fine" {
		t.Fatalf("after the panics: %d %q", resp.StatusCode, body)
	}
}

// net/http's own abort is passed on: not logged, not counted.
func TestAbortHandlerPassedOn(t *testing.T) {
	logs := &testwait.Log{}
	var panics atomic.Int32
	h := HTTP(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }),
		slog.New(slog.NewTextHandler(logs, nil)), func() { panics.Add(1) })
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler", p)
		}
		if panics.Load() != 0 || logs.String() != "" {
			t.Fatalf("abort counted %d / logged %q", panics.Load(), logs.String())
		}
	}()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}
