package main

import (
	"strings"
	"testing"
)

// The server exports its recovered-panic counters from the start, at
// zero, for both places that recover (the HTTP handler chain and each
// WebSocket connection). The recovery itself is tested in
// internal/recovery (HTTP) and internal/wstransport (WebSocket).
func TestPanicCountersExported(t *testing.T) {
	s := startServer(t, "")
	code, body := httpGet(t, s.url+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, where := range []string{"http", "websocket"} {
		line := `weft_panics_recovered_total{where="` + where + `"} 0`
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	// The server answers normally behind the recovery middleware.
	if code, body := httpGet(t, s.url+"/api/docs"); code != 200 || !strings.Contains(body, `"docs"`) {
		t.Fatalf("/api/docs behind recovery: %d %s", code, body)
	}
}
