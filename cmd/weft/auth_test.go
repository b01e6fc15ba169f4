package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
)

const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

// keys is a set of test keys and the files the server reads them from.
type keys struct {
	dir        string
	secretFile string
	rsa        *rsa.PrivateKey
	rsaPEM     string // file
	rsaPEMRaw  []byte
	ec         *ecdsa.PrivateKey
	jwks       string // file: the EC key (kid "ec-1") and the RSA key (kid "rsa-1")
}

func newKeys(t testing.TB) *keys {
	t.Helper()
	k := &keys{dir: t.TempDir()}
	k.secretFile = filepath.Join(k.dir, "secret")
	must(t, os.WriteFile(k.secretFile, []byte(testSecret+"\n"), 0o600))
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	must(t, err)
	k.rsaPEMRaw = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	k.rsaPEM = filepath.Join(k.dir, "rsa.pem")
	must(t, os.WriteFile(k.rsaPEM, k.rsaPEMRaw, 0o644))
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.jwks = filepath.Join(k.dir, "jwks.json")
	must(t, os.WriteFile(k.jwks, jwksOf(t, k.rsa, k.ec), 0o644))
	return k
}

// jwksOf is a JWK set of the public halves of ecKey (kid "ec-1") and
// rsaKey (kid "rsa-1").
func jwksOf(t testing.TB, rsaKey *rsa.PrivateKey, ecKey *ecdsa.PrivateKey) []byte {
	t.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	ecBytes, err := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	must(t, err)
	js, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256", "x": b64(ecBytes[1:33]), "y": b64(ecBytes[33:])},
		{"kty": "RSA", "kid": "rsa-1", "n": b64(rsaKey.N.Bytes()), "e": b64([]byte{1, 0, 1})},
	}})
	must(t, err)
	return js
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// token signs claims for sub with docs, valid from nbf to exp (relative to now).
func token(t testing.TB, method jwt.SigningMethod, key any, kid, sub string, docs map[string]string, nbf, exp time.Duration) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(method, claims{Name: "Test " + sub, Docs: docs, RegisteredClaims: jwt.RegisteredClaims{
		Subject: sub, NotBefore: jwt.NewNumericDate(now.Add(nbf)), ExpiresAt: jwt.NewNumericDate(now.Add(exp)),
	}})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func hsToken(t testing.TB, sub string, docs map[string]string) string {
	return token(t, jwt.SigningMethodHS256, []byte(testSecret), "", sub, docs, -time.Minute, time.Hour)
}

func TestTokenVerification(t *testing.T) {
	k := newKeys(t)
	all := map[string]string{"*": "write"}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	unsigned, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims{Docs: all, RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{Docs: all, RegisteredClaims: jwt.RegisteredClaims{Subject: "u"}}).SignedString([]byte(testSecret))

	type cfg struct{ secret, pem, jwks string }
	hs := cfg{secret: k.secretFile}
	pemOnly := cfg{pem: k.rsaPEM}
	both := cfg{secret: k.secretFile, pem: k.rsaPEM}
	jwks := cfg{jwks: k.jwks}
	for _, tc := range []struct {
		name  string
		cfg   cfg
		tok   string
		want  error // nil: valid
		wantS string
	}{
		{"hs256 valid", hs, hsToken(t, "alice", all), nil, ""},
		{"expired", hs, token(t, jwt.SigningMethodHS256, []byte(testSecret), "", "u", all, -2*time.Hour, -time.Hour), jwt.ErrTokenExpired, ""},
		{"expired within leeway", hs, token(t, jwt.SigningMethodHS256, []byte(testSecret), "", "u", all, -2*time.Hour, -10*time.Second), nil, ""},
		{"not yet valid", hs, token(t, jwt.SigningMethodHS256, []byte(testSecret), "", "u", all, time.Hour, 2*time.Hour), jwt.ErrTokenNotValidYet, ""},
		{"no exp", hs, noExp, jwt.ErrTokenRequiredClaimMissing, ""},
		{"wrong secret", hs, token(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-1234"), "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"alg none", hs, unsigned, jwt.ErrTokenSignatureInvalid, ""},
		{"alg none with keys", both, unsigned, jwt.ErrTokenSignatureInvalid, ""},
		{"garbage", hs, "not.a.token", jwt.ErrTokenMalformed, ""},
		{"rs256 valid", pemOnly, token(t, jwt.SigningMethodRS256, k.rsa, "", "u", all, -time.Minute, time.Hour), nil, ""},
		{"rs256 wrong key", pemOnly, token(t, jwt.SigningMethodRS256, otherRSA, "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		// HS/RS confusion: an HS256 token whose "secret" is the public key.
		{"hs256 signed with the public key", pemOnly, token(t, jwt.SigningMethodHS256, k.rsaPEMRaw, "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"hs256 signed with the public key, secret configured too", both, token(t, jwt.SigningMethodHS256, k.rsaPEMRaw, "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"rs256 to an hs256-only server", hs, token(t, jwt.SigningMethodRS256, k.rsa, "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"es256 jwks by kid", jwks, token(t, jwt.SigningMethodES256, k.ec, "ec-1", "u", all, -time.Minute, time.Hour), nil, ""},
		{"rs256 jwks by kid", jwks, token(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", "u", all, -time.Minute, time.Hour), nil, ""},
		{"es256 jwks unknown kid", jwks, token(t, jwt.SigningMethodES256, k.ec, "nope", "u", all, -time.Minute, time.Hour), jwt.ErrTokenUnverifiable, ""},
		{"es256 jwks wrong key", jwks, token(t, jwt.SigningMethodES256, otherEC, "ec-1", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"no sub", hs, token(t, jwt.SigningMethodHS256, []byte(testSecret), "", "", all, -time.Minute, time.Hour), nil, "no sub"},
		{"bad role", hs, hsToken(t, "u", map[string]string{"*": "owner"}), nil, "unknown role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := newAuthenticator(tc.cfg.secret, tc.cfg.pem, tc.cfg.jwks, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := a.verify(tc.tok)
			switch {
			case tc.want == nil && tc.wantS == "":
				if err != nil || auth == nil || auth.User == "" {
					t.Fatalf("verify = %v, %v; want valid", auth, err)
				}
			case tc.want != nil:
				if !errors.Is(err, tc.want) {
					t.Fatalf("verify err = %v; want %v", err, tc.want)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.wantS) {
					t.Fatalf("verify err = %v; want %q", err, tc.wantS)
				}
			}
		})
	}
}

func TestAccessFromClaims(t *testing.T) {
	k := newKeys(t)
	a, err := newAuthenticator(k.secretFile, "", "", 0)
	must(t, err)
	auth, err := a.verify(hsToken(t, "u", map[string]string{"*": "read", "docA": "write", "docB": "admin"}))
	must(t, err)
	for doc, want := range map[string]session.Role{"docA": session.RoleWrite, "docB": session.RoleAdmin, "other": session.RoleRead} {
		if got := auth.Access(doc); got != want {
			t.Errorf("Access(%s) = %v, want %v", doc, got, want)
		}
	}
	auth, err = a.verify(hsToken(t, "u", map[string]string{"docA": "read"}))
	must(t, err)
	if got := auth.Access("other"); got != session.RoleNone {
		t.Errorf("Access(other) without wildcard = %v, want none", got)
	}
}

func TestAuthConfigErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	must(t, os.WriteFile(short, []byte("too-short"), 0o600))
	if _, err := newAuthenticator("", "", "", time.Second); err == nil {
		t.Error("jwt without keys accepted")
	}
	if _, err := newAuthenticator(short, "", "", time.Second); err == nil {
		t.Error("short secret accepted")
	}
	var out, errb bytes.Buffer
	for _, args := range [][]string{
		{"serve", "--addr", "0.0.0.0:0", "--data", dir},
		{"serve", "--addr", ":0", "--data", dir, "--auth", "none"},
		{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--auth", "basic"},
		{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--auth", "jwt"},
	} {
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%v: started", args)
		}
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{{"localhost:80", true}, {"127.0.0.1:0", true}, {"[::1]:8080", true}, {":8080", false}, {"0.0.0.0:1", false}, {"10.0.0.1:1", false}, {"example.com:80", false}} {
		if got := isLoopback(tc.addr); got != tc.want {
			t.Errorf("isLoopback(%s) = %v", tc.addr, got)
		}
	}
}

// The token command mints what the server accepts.
func TestTokenCommand(t *testing.T) {
	k := newKeys(t)
	var out, errb bytes.Buffer
	must(t, run(context.Background(), []string{"token", "--secret-file", k.secretFile, "--sub", "u1", "--name", "U", "--doc", "*=read", "--doc", "d1=write", "--ttl", "1h"}, &out, &errb))
	a, err := newAuthenticator(k.secretFile, "", "", 0)
	must(t, err)
	auth, err := a.verify(strings.TrimSpace(out.String()))
	must(t, err)
	if auth.User != "u1" || auth.Access("d1") != session.RoleWrite || auth.Access("x") != session.RoleRead {
		t.Fatalf("minted token grants %v %v %v", auth.User, auth.Access("d1"), auth.Access("x"))
	}
	if err := run(context.Background(), []string{"token", "--secret-file", k.secretFile, "--sub", "u", "--doc", "x=owner"}, &out, &errb); err == nil {
		t.Fatal("bad role accepted")
	}
}

// closeCodeOf returns the close code in a dial or read error ("" if none).
func expectRefused(t testing.TB, err error, code int) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint(code)) {
		t.Fatalf("got %v; want a close with code %d", err, code)
	}
}

func TestUpgradeAuthentication(t *testing.T) {
	k := newKeys(t)
	s := startServer(t, "", "--auth", "jwt", "--jwt-secret-file", k.secretFile, "--jwt-public-key-file", k.rsaPEM)
	all := map[string]string{"*": "write"}
	good := hsToken(t, "alice", all)

	for _, tc := range []struct {
		name string
		o    dialOpts
		code int // 0: accepted
	}{
		{"header", dialOpts{header: http.Header{"Authorization": {"Bearer " + good}}}, 0},
		{"cookie", dialOpts{header: http.Header{"Cookie": {tokenCookie + "=" + good}}}, 0},
		{"query", dialOpts{path: "/?token=" + good}, 0},
		{"rs256", dialOpts{path: "/?token=" + token(t, jwt.SigningMethodRS256, k.rsa, "", "bob", all, -time.Minute, time.Hour)}, 0},
		{"missing", dialOpts{}, session.CloseUnauthorized},
		{"expired", dialOpts{path: "/?token=" + token(t, jwt.SigningMethodHS256, []byte(testSecret), "", "u", all, -2*time.Hour, -time.Hour)}, session.CloseUnauthorized},
		{"not yet valid", dialOpts{path: "/?token=" + token(t, jwt.SigningMethodHS256, []byte(testSecret), "", "u", all, time.Hour, 2*time.Hour)}, session.CloseUnauthorized},
		{"hs/rs confusion", dialOpts{path: "/?token=" + token(t, jwt.SigningMethodHS256, k.rsaPEMRaw, "", "u", all, -time.Minute, time.Hour)}, session.CloseUnauthorized},
		{"garbage", dialOpts{header: http.Header{"Authorization": {"Bearer xyz"}}}, session.CloseUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tryDial(s, "peer-"+strings.ReplaceAll(tc.name, " ", "-"), tc.o)
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				c.conn.Close()
				return
			}
			if c != nil {
				c.conn.Close()
			}
			expectRefused(t, err, tc.code)
		})
	}
	eventually(t, 5*time.Second, "an audit line for the refusals", func() bool {
		return strings.Contains(s.logs.String(), "audit=auth_failed")
	})
	// The API wants a token too.
	if code, _ := httpGet(t, s.url+"/api/anything"); code != http.StatusUnauthorized {
		t.Errorf("API without a token: %d, want 401", code)
	}
	req, _ := http.NewRequest("GET", s.url+"/api/anything", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("API with a token: %d, want 404 (no such endpoint yet)", resp.StatusCode)
	}
	// Health stays open for probes.
	if code, _ := httpGet(t, s.url+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
}

// Per-document roles with real tokens and real WebSocket clients.
func TestDocumentRoles(t *testing.T) {
	k := newKeys(t)
	s := startServer(t, "", "--auth", "jwt", "--jwt-secret-file", k.secretFile)
	doc, secretDoc := crdt.NewDocumentID(), crdt.NewDocumentID()
	withToken := func(tok string) dialOpts { return dialOpts{path: "/?token=" + tok} }
	writer := dial(t, s, "writer", withToken(hsToken(t, "w", map[string]string{"*": "write"})))
	reader := dial(t, s, "reader", withToken(hsToken(t, "r", map[string]string{doc: "read"})))
	stranger := dial(t, s, "stranger", withToken(hsToken(t, "x", map[string]string{"someone-else": "write"})))

	must(t, writer.edit(doc, 0, 0, "hello"))
	must(t, writer.edit(secretDoc, 0, 0, "secret"))
	must(t, reader.open(doc))
	eventually(t, 5*time.Second, "reader to see the document", func() bool { return reader.text(doc) == "hello" })

	// A read-only peer's change is refused with an error and never applied.
	must(t, reader.edit(doc, 0, 0, "EVIL "))
	m := waitFor(t, reader, session.TypeError)
	if !strings.Contains(m.Message, "read-only") {
		t.Errorf("error message %q", m.Message)
	}
	// It still sees live edits.
	must(t, writer.edit(doc, 5, 0, " world"))
	eventually(t, 5*time.Second, "reader to see the live edit", func() bool { return strings.HasSuffix(reader.text(doc), "hello world") })
	time.Sleep(200 * time.Millisecond)
	if got := writer.text(doc); got != "hello world" {
		t.Fatalf("writer sees %q: the reader's change got through", got)
	}
	if n := strings.Count(s.logs.String(), "audit=read_only_write"); n == 0 || n > 10 {
		t.Errorf("%d refusals logged; want a few (no resync loop)", n)
	}
	t.Logf("refusals: %d", strings.Count(s.logs.String(), "audit=read_only_write"))
	// A peer without access learns nothing: the same answer as for a
	// document that does not exist, and its changes are not applied.
	must(t, stranger.open(secretDoc))
	if m := waitFor(t, stranger, session.TypeDocUnavailable); m.DocumentID != secretDoc {
		t.Fatalf("doc-unavailable for %q", m.DocumentID)
	}
	must(t, stranger.edit(secretDoc, 0, 0, "overwrite"))
	waitFor(t, stranger, session.TypeDocUnavailable)
	newDoc := crdt.NewDocumentID()
	must(t, stranger.edit(newDoc, 0, 0, "squatting"))
	waitFor(t, stranger, session.TypeDocUnavailable)
	missing := crdt.NewDocumentID()
	must(t, writer.open(missing))
	waitFor(t, writer, session.TypeDocUnavailable)

	// Nothing the reader or the stranger sent reached the disk.
	must(t, s.stop())
	st, err := storage.Open(filepath.Join(s.data, "weft.db"), nil)
	must(t, err)
	defer st.Close()
	for d, want := range map[string]string{doc: "hello world", secretDoc: "secret"} {
		ch, err := st.Load(d)
		must(t, err)
		var all []byte
		for _, c := range append(ch.Snapshots, ch.Incrementals...) {
			all = append(all, c...)
		}
		r, err := crdt.LoadReplica(all)
		must(t, err)
		if got, _ := r.Text("text"); got != want {
			t.Errorf("stored %s = %q, want %q", d, got, want)
		}
	}
	if _, err := st.Load(newDoc); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a peer without access created a document: %v", err)
	}
}

// waitFor returns the next non-sync message of type typ.
func waitFor(t testing.TB, c *wsClient, typ string) session.Message {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-c.got:
			if m.Type == typ {
				return m
			}
		case <-c.closed:
			t.Fatalf("%s: connection closed waiting for %s: %v", c.peerID, typ, c.closeErr)
		case <-timeout:
			t.Fatalf("%s: no %s within 5s", c.peerID, typ)
		}
	}
}
