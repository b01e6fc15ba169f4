package session_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/weft-dev/weft/session"
)

// A close reason longer than a close frame holds is cut at a rune
// boundary, not inside a multi-byte character.
func TestCloseReasonFitsFrame(t *testing.T) {
	e := newEnv(t, session.Config{})
	c := e.connect("peer-long-reason")
	c.cl.Close(session.CloseRateLimited, "x"+strings.Repeat("€", 60)) // 181 bytes
	reason := c.expectClose(session.CloseRateLimited)
	if len(reason) > 123 || !utf8.ValidString(reason) {
		t.Fatalf("close reason of %d bytes, valid UTF-8: %v", len(reason), utf8.ValidString(reason))
	}
	if want := "x" + strings.Repeat("€", 40); reason != want {
		t.Fatalf("reason %q, want %q", reason, want)
	}
}
