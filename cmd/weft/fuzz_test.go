package main

import (
	"bufio"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	editorweb "github.com/weft-dev/weft/editor-web"
)

// Fixed keys for the fuzz targets, so that the seeds under testdata/fuzz
// (tokens signed with them, valid until 2100) stay valid. Test keys only.
const (
	fuzzRSAKey = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCrG3Pcktw3SNa0
o48MmcFrklgVI8iQJElUgxLSVDnclcraK+duwUYr8YUrtPpoO+sTf72t70WGXBz1
kgUKtxwu4ihoenp1WONIOmuSbb7zFMTuHdHvuDwSz+4EL8xdOobzS0Zai4exaKSr
rcA2+y99gSnb/4vjdLB6kaeRAxt+cHnHVd/z7ezsjMuGTQBFf36YvBeF7pBHOcum
9dfhPmHu+3t4wHThIs/8auCenLRFwbjLRWrcoHmHfMeFexf5CG9WV8jTmv95RK4d
GrCDby+msp0SALD4SqwLYwBw58UUULs/a653oG/GQVisnZuWgMBTIGHc5ssF9eqr
wwd7KkNdAgMBAAECggEAAMBTWyfS6zQ46xyfu2quaHpBREB+uDFMmCAmNEG16lPH
Cvuv3bLgC7/Y+ZbnFY+Tyedg7hNTnxIm92YPextQNp18F29YO80q3E2TXNZ6BOe1
sKT1X8PTkbKThTWvhEZGQum08p9TtnHy7SULZ8JlFDw9so9V7ib8QmGC1pZop761
V2AhrMC3iXfjewZEU+DlsTIoMRdhamDs0IbhdxkID7qc5veTatBitEWwPHsle6Ok
SoZcpHEjGVzHLsF+TcV9vIbzHsq6+ynZZvf2yIRQUQO6f8IRqlfVhteq9GLQB39V
6OXUnUO49uhDFhYDHFE5W6NeMj8yI5tDMMdp1aVJcQKBgQDY4RCJIgu1YTY4v5TB
18Nyc9nOWWPWaDPHFPyHMs4y2SW/BgUwVGGGfnV7rbPhBvxOSiQVyRtNvciAoz8+
S9J9wg9O7DOoOZ4rivz34Lr7hJ4PZL9WKaQj1595NA+i97t45C/pCCSQS6q2qn3n
cCOUSMEENXiRb2YL4X1cOun0sQKBgQDJ+MFm78iak6I9cjRCv2Ig994o7N3nPFt5
02mkVCP56zLPuiV2eAX/SZBpBCQ9+QtRADcz43PJQiPjqAbcxviMzw69TaAJRnlN
IXh3CkNdbsYHWZEMJoFINkJ8Sp5hclVJRBxmYSwLZtB3cJOhLIQpRY5xWMqg9vSV
IkGQgjNUbQKBgEZ1+JVVBlDLYH5XX9EKdGk+0kiEKjeCazAG1XRnQS6r9eN15UGq
aHT1qN2htYsqZdZZqBeb2s8LFZUVdHqcz6oj3i1Z9/5zmbuz0DQIQzdsAp4lsTQh
Gz650wnhrCLaMYI5QIeJKbfnnXLzOSxz9ls6t9rSNHWrp4+8lqncSh5BAoGBAJ3N
qyaHMOB9eySxR13jdIM3xy+IqnRSN1K/OOo5B4bsGl4tHborWtw0mQ1EPCDjpdDa
70aubzgPYkUscngrSeWSnfyQWvsEQiBeh2XS8gFdXII/m9G3gAlww4+jKY4Pq807
10iyoZwi77xyjBZA1t38R6gN7PvJGB4xjrKe2AYdAoGAYyAe6B8TUxk/gPNdM48q
LX5YB/ualFwAdwHCsGzbsBSra9b6BsCCfOFFngqdk+varvTeDRBHwKG4hbNCH287
lm+5utxNK7hoQcikjFLCBvHihiyW4oJCBcsiURg+kO+qNBITBXW6pyaudIIxYzKr
KDuRmTeR7VpcautryoPfcwo=
-----END PRIVATE KEY-----`
	fuzzECKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwMyDeMoDQNyQ8Y9K
Ozj+W5hZUIHWsL0sh0wGjj/SFh2hRANCAATF2Bs+9CklaIvM1v/ZEFQqGxFxuVlM
D1unr3JdpkynCnWOVhOruGx+L0DVWnF1ZaGAtxYs/fJc86c7sEeKaFe/
-----END PRIVATE KEY-----`
)

// fuzzKeys are the fixed keys and the files the server reads them from.
type fuzzKeys struct {
	rsa                           *rsa.PrivateKey
	ec                            *ecdsa.PrivateKey
	secretFile, pemFile, jwksFile string
	pem, jwks                     []byte
}

func loadFuzzKeys(tb testing.TB) *fuzzKeys {
	tb.Helper()
	parse := func(s string) any {
		blk, _ := pem.Decode([]byte(s))
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		must(tb, err)
		return k
	}
	k := &fuzzKeys{rsa: parse(fuzzRSAKey).(*rsa.PrivateKey), ec: parse(fuzzECKey).(*ecdsa.PrivateKey)}
	for _, pub := range []any{&k.rsa.PublicKey, &k.ec.PublicKey} {
		der, err := x509.MarshalPKIXPublicKey(pub)
		must(tb, err)
		k.pem = append(k.pem, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	k.jwks = jwksOf(tb, k.rsa, k.ec)
	dir := tb.TempDir()
	k.secretFile, k.pemFile, k.jwksFile = filepath.Join(dir, "secret"), filepath.Join(dir, "keys.pem"), filepath.Join(dir, "jwks.json")
	must(tb, os.WriteFile(k.secretFile, []byte(testSecret), 0o600))
	must(tb, os.WriteFile(k.pemFile, k.pem, 0o600))
	must(tb, os.WriteFile(k.jwksFile, k.jwks, 0o600))
	return k
}

// longToken signs claims valid from 2020 to 2100 (fit for stored seeds).
func longToken(tb testing.TB, m jwt.SigningMethod, key any, kid, sub string, docs map[string]string) string {
	tb.Helper()
	return token(tb, m, key, kid, sub, docs,
		time.Until(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), time.Until(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)))
}

const fuzzLeeway = 30 * time.Second

// FuzzToken: extracting a token from a header, cookie or query parameter
// and verifying it (HS256, RS256 and ES256 from PEM and JWKS, and keys
// from a fuzzed JWK set or PEM) never panics, and whatever is accepted
// is checked again here, independently of golang-jwt: a signature that
// verifies under a configured key with an allowed algorithm, exp in the
// future and nbf in the past (within the leeway), and a subject.
func FuzzToken(f *testing.F) {
	k := loadFuzzKeys(f)
	all := map[string]string{"*": "write"}
	for _, tok := range []string{
		longToken(f, jwt.SigningMethodHS256, []byte(testSecret), "", "u", all),
		longToken(f, jwt.SigningMethodRS256, k.rsa, "rsa-1", "u", all),
		longToken(f, jwt.SigningMethodES256, k.ec, "ec-1", "u", map[string]string{"d": "read"}),
		longToken(f, jwt.SigningMethodHS256, k.pem, "", "u", all), // HS/RS confusion
		longToken(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", "u", all),
		"not.a.token", "",
	} {
		for where := range uint8(4) {
			f.Add(where, where, tok, k.jwks)
		}
		f.Add(uint8(0), uint8(3), tok, k.pem)
	}
	dir := f.TempDir()
	keyFile := filepath.Join(dir, "fuzzed-keys")
	configs := make([]*authenticator, 4)
	for i, files := range [][3]string{{k.secretFile, "", ""}, {"", k.pemFile, ""}, {"", "", k.jwksFile}, {k.secretFile, k.pemFile, k.jwksFile}} {
		var err error
		configs[i], err = newAuthenticator(files[0], files[1], files[2], fuzzLeeway)
		must(f, err)
	}
	keysOf := func(a *authenticator) (secret []byte, pubs []any) {
		for _, e := range append(append([]keyEntry{}, a.rsaKeys...), a.ecKeys...) {
			pubs = append(pubs, e.key)
		}
		return a.secret, pubs
	}

	f.Fuzz(func(t *testing.T, where, cfg uint8, tok string, keyset []byte) {
		r := httptest.NewRequest("GET", "/", nil)
		switch where % 5 {
		case 0:
			r.Header.Set("Authorization", "Bearer "+tok)
		case 1:
			r.Header.Set("Cookie", tokenCookie+"="+tok)
		case 2:
			r.URL.RawQuery = tokenQuery + "=" + tok
		case 3:
			r.URL.RawQuery = tokenQuery + "=" + url.QueryEscape(tok)
		case 4:
			r.Header.Set("Authorization", tok) // the whole header fuzzed
		}
		a := configs[int(cfg)%len(configs)]
		if auth, err := a.authenticate(r); err == nil {
			if auth == nil || auth.User == "" {
				t.Fatalf("accepted without a user: %q", tok)
			}
			secret, pubs := keysOf(a)
			checkAccepted(t, requestToken(r), a.methods, secret, pubs)
		}

		// Keys from a fuzzed JWK set or PEM file: valid keys only, and
		// what they accept passes the same check.
		jwksOK := false
		for i, parse := range []func([]byte) ([]keyEntry, error){parseJWKS, parsePEMKeys} {
			keys, err := parse(keyset)
			if err != nil {
				continue
			}
			jwksOK = jwksOK || i == 0
			for _, e := range keys {
				if pk, ok := e.key.(*rsa.PublicKey); ok && pk.N.BitLen() < 2048 && i == 0 {
					t.Fatalf("JWKS RSA key of %d bits accepted", pk.N.BitLen())
				}
				if pk, ok := e.key.(*ecdsa.PublicKey); ok {
					if _, err := pk.ECDH(); err != nil {
						t.Fatalf("invalid EC key accepted: %v", err)
					}
				}
			}
		}
		if jwksOK {
			must(t, os.WriteFile(keyFile, keyset, 0o600))
			fa, err := newAuthenticator("", "", keyFile, fuzzLeeway)
			if err != nil {
				return
			}
			if auth, err := fa.verify(tok); err == nil {
				_, pubs := keysOf(fa)
				checkAccepted(t, tok, fa.methods, nil, pubs)
				if auth.User == "" {
					t.Fatal("accepted without a user")
				}
			}
		}
	})
}

// checkAccepted verifies an accepted token from scratch.
func checkAccepted(t *testing.T, tok string, methods []string, secret []byte, pubs []any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("accepted a token of %d parts: %q", len(parts), tok)
	}
	seg := func(i int) []byte {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("accepted a token with a bad segment %d: %q", i, tok)
		}
		return b
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(seg(0), &hdr); err != nil {
		t.Fatalf("accepted a token with a bad header: %q", tok)
	}
	allowed := false
	for _, m := range methods {
		allowed = allowed || m == hdr.Alg
	}
	if !allowed {
		t.Fatalf("accepted alg %q; allowed %v", hdr.Alg, methods)
	}
	input, sig := []byte(parts[0]+"."+parts[1]), seg(2)
	sum := sha256.Sum256(input)
	ok := false
	switch hdr.Alg {
	case "HS256":
		mac := hmac.New(sha256.New, secret)
		mac.Write(input)
		ok = len(secret) >= minSecret && hmac.Equal(sig, mac.Sum(nil))
	case "RS256":
		for _, p := range pubs {
			if pk, isRSA := p.(*rsa.PublicKey); isRSA && rsa.VerifyPKCS1v15(pk, crypto.SHA256, sum[:], sig) == nil {
				ok = true
			}
		}
	case "ES256":
		for _, p := range pubs {
			if pk, isEC := p.(*ecdsa.PublicKey); isEC && len(sig) == 64 &&
				ecdsa.Verify(pk, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
				ok = true
			}
		}
	}
	if !ok {
		t.Fatalf("accepted a %s token whose signature does not verify: %q", hdr.Alg, tok)
	}
	dec := json.NewDecoder(strings.NewReader(string(seg(1))))
	dec.UseNumber()
	var c map[string]any
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("accepted unreadable claims: %q", tok)
	}
	now := float64(time.Now().Unix())
	slack := fuzzLeeway.Seconds() + 2
	exp, isNum := c["exp"].(json.Number)
	if e, err := exp.Float64(); !isNum || err != nil || e < now-slack {
		t.Fatalf("accepted exp %v at %v: %q", c["exp"], now, tok)
	}
	if nbf, present := c["nbf"]; present {
		n, isNum := nbf.(json.Number)
		if v, err := n.Float64(); !isNum || err != nil || v > now+slack {
			t.Fatalf("accepted nbf %v at %v: %q", nbf, now, tok)
		}
	}
	if sub, _ := c["sub"].(string); sub == "" {
		t.Fatalf("accepted a token without sub: %q", tok)
	}
}

// FuzzHTTPRequest sends requests built from the fuzzer's bytes to a real
// server over loopback: whatever the server's handler routes (health,
// /status, /metrics, the editor, WebSocket upgrades on any path, and
// everything under /api/, including routes added later). The server
// answers every one without a 5xx, /api/ errors are JSON, and no body
// carries a stack trace or an internal error.
func FuzzHTTPRequest(f *testing.F) {
	k := loadFuzzKeys(f)
	s := startServer(f, "", "--auth", "jwt", "--jwt-secret-file", k.secretFile,
		"--max-conns-per-ip", "0", "--admission-rate", "0", "--join-timeout", "1s")
	good := longToken(f, jwt.SigningMethodHS256, []byte(testSecret), "", "fuzz", map[string]string{"*": "admin"})
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
				hdr.Add("Cookie", tokenCookie+"="+good)
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
