package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	editorweb "github.com/weft-dev/weft/editor-web"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/auth/authtest"
)

// FuzzHTTPRequest sends requests built from the fuzzer's bytes to a real
// server over loopback: whatever the server's handler routes (health,
// /status, /metrics, the editor, WebSocket upgrades on any path, and
// everything under /api/, including routes added later). The server
// answers every one without a 5xx, /api/ errors are JSON, and no body
// carries a stack trace or an internal error.
func FuzzHTTPRequest(f *testing.F) {
	k := authtest.LoadFixedKeys(f)
	s := startServer(f, "", "--auth", "jwt", "--jwt-secret-file", k.SecretFile,
		"--max-conns-per-ip", "0", "--admission-rate", "0", "--join-timeout", "1s")
	good := authtest.LongToken(f, jwt.SigningMethodHS256, []byte(testSecret), "", "fuzz", map[string]string{"*": "admin"})
	addr := strings.TrimPrefix(s.url, "http://")
	host := addr
	for _, seed := range []struct {
		method, path, headers string
		body                  []byte
		flags                 uint8
	}{
		{"GET", "/healthz", "", nil, 0},
		{"GET", "/readyz", "", nil, 0},
		{"GET", "/status", "Accept: application/json", nil, 0},
		{"GET", "/metrics", "", nil, 0},
		{"GET", "/", "", nil, 0},
		{"GET", "/d/4NMNnkMhL8jXrdJ9jamS58PAVdXu", "", nil, 0},
		{"GET", "/assets/../../etc/passwd", "", nil, 0},
		{"GET", "/api/", "", nil, 0},
		{"GET", "/api/no/such/thing", "", nil, 1},
		{"POST", "/api/docs", "Content-Type: application/json", []byte(`{"title":"x"}`), 1},
		{"PUT", "/api/docs/4NMNnkMhL8jXrdJ9jamS58PAVdXu", "Content-Type: application/json", []byte(`{`), 1},
		{"DELETE", "/api/docs/../../x", "", nil, 1},
		{"GET", "/api/docs?token=x", "Cookie: weft_token=abc", nil, 0},
		{"GET", "/", "Origin: http://evil.example", nil, 2},
		{"GET", "/sync", "Origin: http://" + host, nil, 3},
		{"GET", "/?token=bad", "", nil, 2},
		{"GET", "/", "Sec-WebSocket-Version: 8", nil, 3},
		{"OPTIONS", "*", "", nil, 0},
	} {
		f.Add(seed.method, seed.path, seed.headers, seed.body, seed.flags)
	}

	f.Fuzz(func(t *testing.T, method, path, headers string, body []byte, flags uint8) {
		if method == "" || strings.IndexFunc(method, notTokenRune) >= 0 || len(method) > 16 {
			method = "GET"
		}
		path = strings.Map(func(r rune) rune {
			if r <= ' ' || r >= 0x7f {
				return -1
			}
			return r
		}, path)
		if path != "*" && !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		if len(body) > 64<<10 {
			body = body[:64<<10]
		}
		upgrade := flags&2 != 0
		var req strings.Builder
		fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, host)
		var hdr http.Header = http.Header{}
		for i, line := range strings.Split(headers, "\n") {
			name, value, ok := strings.Cut(line, ":")
			name = strings.TrimSpace(name)
			if !ok || i >= 20 || name == "" || strings.IndexFunc(name, notTokenRune) >= 0 {
				continue
			}
			switch strings.ToLower(name) {
			case "host", "content-length", "transfer-encoding", "connection", "expect", "te", "trailer":
				continue // the request's framing is ours
			}
			value = strings.Map(func(r rune) rune {
				if r < ' ' && r != '\t' || r == 0x7f {
					return -1
				}
				return r
			}, value)
			hdr.Add(name, strings.TrimSpace(value))
		}
		if flags&1 != 0 {
			if flags&8 != 0 {
				hdr.Add("Cookie", auth.TokenCookie+"="+good)
			} else {
				hdr.Set("Authorization", "Bearer "+good)
			}
		}
		if upgrade {
			// Bytes after a handshake are WebSocket frames, and gorilla
			// drops a connection that sends them early: no body.
			body = nil
			hdr.Set("Upgrade", "websocket")
			fmt.Fprintf(&req, "Connection: Upgrade\r\n")
			if hdr.Get("Sec-WebSocket-Version") == "" {
				hdr.Set("Sec-WebSocket-Version", "13")
			}
			if hdr.Get("Sec-WebSocket-Key") == "" {
				hdr.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
			}
		} else {
			fmt.Fprintf(&req, "Connection: close\r\n")
		}
		if len(body) > 0 {
			fmt.Fprintf(&req, "Content-Length: %d\r\n", len(body))
		}
		for name, vs := range hdr {
			for _, v := range vs {
				fmt.Fprintf(&req, "%s: %s\r\n", name, v)
			}
		}
		req.WriteString("\r\n")
		req.Write(body)

		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("server gone: %v", err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.WriteString(conn, req.String()); err != nil {
			t.Fatalf("write: %v", err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("no response to %s %s: %v", method, path, err)
		}
		var b []byte
		if resp.StatusCode != http.StatusSwitchingProtocols {
			b, _ = io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		}
		resp.Body.Close()
		checkResponse(t, method, path, hdr, resp, string(b), s.data)
	})
}

// notTokenRune reports a rune that may not appear in an HTTP token (a
// method or a header name).
func notTokenRune(r rune) bool {
	return r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r)
}

// checkResponse holds what every HTTP answer must satisfy.
func checkResponse(t *testing.T, method, path string, hdr http.Header, resp *http.Response, body, dataDir string) {
	t.Helper()
	u, _ := url.ParseRequestURI(path)
	serverLevel := resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(body, "400 Bad Request") // net/http's own, before any handler
	onAPI := u != nil && strings.HasPrefix(u.Path, "/api/") && !isUpgrade(&http.Request{Header: hdr})
	if resp.StatusCode >= 500 {
		editorMissing := resp.StatusCode == http.StatusServiceUnavailable && !editorweb.Built() && !onAPI
		if !editorMissing {
			t.Fatalf("%s %s: %d %.300s", method, path, resp.StatusCode, body)
		}
	}
	if onAPI && resp.StatusCode >= 400 && !serverLevel && method != "HEAD" {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || json.Unmarshal([]byte(body), &e) != nil || e.Error.Code == "" {
			t.Fatalf("%s %s: %d with a non-JSON error body (%s) %.300q", method, path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	ct := resp.Header.Get("Content-Type")
	if resp.StatusCode >= 400 || strings.HasPrefix(ct, "application/json") || strings.HasPrefix(ct, "text/plain") {
		for _, leak := range []string{"goroutine ", "runtime error", "panic:", ".go:", dataDir, "weft.db"} {
			if strings.Contains(body, leak) {
				t.Fatalf("%s %s: %d body leaks %q: %.500s", method, path, resp.StatusCode, leak, body)
			}
		}
	}
}

func isUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}
