package session

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncate(t *testing.T) {
	cases := []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 10, "hello"},
		{"hello", 5, "hello"},
		{"hello", 3, "hel"},
		{"", 3, ""},
		{"héllo", 2, "h"}, // é is two bytes: not cut in half
		{"héllo", 3, "hé"},
		{"日本語", 4, "日"}, // three bytes a rune
		{"日本語", 2, ""},
		{"a😀b", 4, "a"}, // four bytes
		{"a😀b", 5, "a😀"},
	}
	for _, c := range cases {
		got := truncate(c.s, c.n)
		if got != c.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
		if !utf8.ValidString(got) || len(got) > c.n {
			t.Errorf("truncate(%q, %d) = %q: not valid UTF-8 within %d bytes", c.s, c.n, got, c.n)
		}
	}
}

func TestCloseErrorWith(t *testing.T) {
	e := ErrCloseBadSyncMessage.With("bad thing")
	if e.Code != CloseBadSyncMessage || e.Reason != "invalid sync message: bad thing" {
		t.Fatalf("With gave %+v", e)
	}
	if ErrCloseBadSyncMessage.Reason != "invalid sync message" {
		t.Fatal("With changed the predeclared error")
	}
	long := ErrCloseUnloadable.With(strings.Repeat("é", 100))
	if len(long.Reason) > maxCloseReason || !utf8.ValidString(long.Reason) {
		t.Fatalf("reason of %d bytes (valid UTF-8: %v); want at most %d", len(long.Reason), utf8.ValidString(long.Reason), maxCloseReason)
	}
}
