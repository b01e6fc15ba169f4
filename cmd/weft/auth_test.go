package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/auth/authtest"
	"github.com/weft-dev/weft/storage/testwait"
)

const testSecret = authtest.Secret

// The shared test keys and tokens (internal/auth/authtest).
var (
	newKeys = authtest.NewKeys
	jwksOf  = authtest.JWKSOf
	must    = authtest.Must
	token   = authtest.Token
	hsToken = authtest.HSToken
)

func TestAuthConfigErrors(t *testing.T) {
	dir := t.TempDir()
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
	must(t, run(context.Background(), []string{"token", "--secret-file", k.SecretFile, "--sub", "u1", "--name", "U", "--doc", "*=read", "--doc", "d1=write", "--ttl", "1h"}, &out, &errb))
	a, err := auth.New(k.SecretFile, "", "", 0)
	must(t, err)
	auth, err := a.Verify(strings.TrimSpace(out.String()))
	must(t, err)
	if auth.User != "u1" || auth.Access("d1") != session.RoleWrite || auth.Access("x") != session.RoleRead {
		t.Fatalf("minted token grants %v %v %v", auth.User, auth.Access("d1"), auth.Access("x"))
	}
	if err := run(context.Background(), []string{"token", "--secret-file", k.SecretFile, "--sub", "u", "--doc", "x=owner"}, &out, &errb); err == nil {
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
	s := startServer(t, "", "--auth", "jwt", "--jwt-secret-file", k.SecretFile, "--jwt-public-key-file", k.RSAPEM)
	all := map[string]string{"*": "write"}
	good := hsToken(t, "alice", all)

	for _, tc := range []struct {
		name string
		o    dialOpts
		code int // 0: accepted
	}{
		{"header", dialOpts{header: http.Header{"Authorization": {"Bearer " + good}}}, 0},
		{"cookie", dialOpts{header: http.Header{"Cookie": {auth.TokenCookie + "=" + good}}}, 0},
		{"query", dialOpts{path: "/?token=" + good}, 0},
		{"rs256", dialOpts{path: "/?token=" + token(t, jwt.SigningMethodRS256, k.RSA, "", "bob", all, -time.Minute, time.Hour)}, 0},
		{"missing", dialOpts{}, session.CloseUnauthorized},
		{"expired", dialOpts{path: "/?token=" + token(t, jwt.SigningMethodHS256, []byte(testSecret), "", "u", all, -2*time.Hour, -time.Hour)}, session.CloseUnauthorized},
		{"not yet valid", dialOpts{path: "/?token=" + token(t, jwt.SigningMethodHS256, []byte(testSecret), "", "u", all, time.Hour, 2*time.Hour)}, session.CloseUnauthorized},
		{"hs/rs confusion", dialOpts{path: "/?token=" + token(t, jwt.SigningMethodHS256, k.RSAPEMRaw, "", "u", all, -time.Minute, time.Hour)}, session.CloseUnauthorized},
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
	testwait.Until(t, 5*time.Second, "an audit line for the refusals", func() bool {
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
	s := startServer(t, "", "--auth", "jwt", "--jwt-secret-file", k.SecretFile)
	doc, secretDoc := crdt.NewDocumentID(), crdt.NewDocumentID()
	withToken := func(tok string) dialOpts { return dialOpts{path: "/?token=" + tok} }
	writer := dial(t, s, "writer", withToken(hsToken(t, "w", map[string]string{"*": "write"})))
	reader := dial(t, s, "reader", withToken(hsToken(t, "r", map[string]string{doc: "read"})))
	stranger := dial(t, s, "stranger", withToken(hsToken(t, "x", map[string]string{"someone-else": "write"})))

	must(t, writer.edit(doc, 0, 0, "hello"))
	must(t, writer.edit(secretDoc, 0, 0, "secret"))
	must(t, reader.open(doc))
	testwait.Until(t, 5*time.Second, "reader to see the document", func() bool { return reader.text(doc) == "hello" })

	// A read-only peer's change is refused with an error and never applied.
	must(t, reader.edit(doc, 0, 0, "EVIL "))
	m := waitFor(t, reader, session.TypeError)
	if !strings.Contains(m.Message, "read-only") {
		t.Errorf("error message %q", m.Message)
	}
	// It still sees live edits.
	must(t, writer.edit(doc, 5, 0, " world"))
	testwait.Until(t, 5*time.Second, "reader to see the live edit", func() bool { return strings.HasSuffix(reader.text(doc), "hello world") })
	// Wait for the writer to hold all the server holds: a fresh peer that
	// loads the document reaches the writer's heads. Had the reader's change
	// got through, both would have it by then.
	observer := dial(t, s, "observer", withToken(hsToken(t, "o", map[string]string{doc: "read"})))
	must(t, observer.open(doc))
	testwait.Until(t, 5*time.Second, "a fresh peer at the writer's heads", func() bool {
		h := observer.heads(doc)
		return len(h) > 0 && h.Equal(writer.heads(doc))
	})
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
		r, err := crdttest.LoadReplica(all)
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
