package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/auth/authtest"
	"github.com/weft-dev/weft/session"
)

func TestTokenVerification(t *testing.T) {
	k := authtest.NewKeys(t)
	all := map[string]string{"*": "write"}
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	unsigned, _ := jwt.NewWithClaims(jwt.SigningMethodNone, auth.Claims{Docs: all, RegisteredClaims: jwt.RegisteredClaims{
		Subject: "u", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims{Docs: all, RegisteredClaims: jwt.RegisteredClaims{Subject: "u"}}).SignedString([]byte(authtest.Secret))

	type cfg struct{ secret, pem, jwks string }
	hs := cfg{secret: k.SecretFile}
	pemOnly := cfg{pem: k.RSAPEM}
	both := cfg{secret: k.SecretFile, pem: k.RSAPEM}
	jwks := cfg{jwks: k.JWKS}
	for _, tc := range []struct {
		name  string
		cfg   cfg
		tok   string
		want  error // nil: valid
		wantS string
	}{
		{"hs256 valid", hs, authtest.HSToken(t, "alice", all), nil, ""},
		{"expired", hs, authtest.Token(t, jwt.SigningMethodHS256, []byte(authtest.Secret), "", "u", all, -2*time.Hour, -time.Hour), jwt.ErrTokenExpired, ""},
		{"expired within leeway", hs, authtest.Token(t, jwt.SigningMethodHS256, []byte(authtest.Secret), "", "u", all, -2*time.Hour, -10*time.Second), nil, ""},
		{"not yet valid", hs, authtest.Token(t, jwt.SigningMethodHS256, []byte(authtest.Secret), "", "u", all, time.Hour, 2*time.Hour), jwt.ErrTokenNotValidYet, ""},
		{"no exp", hs, noExp, jwt.ErrTokenRequiredClaimMissing, ""},
		{"wrong secret", hs, authtest.Token(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-1234"), "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"alg none", hs, unsigned, jwt.ErrTokenSignatureInvalid, ""},
		{"alg none with keys", both, unsigned, jwt.ErrTokenSignatureInvalid, ""},
		{"garbage", hs, "not.a.token", jwt.ErrTokenMalformed, ""},
		{"rs256 valid", pemOnly, authtest.Token(t, jwt.SigningMethodRS256, k.RSA, "", "u", all, -time.Minute, time.Hour), nil, ""},
		{"rs256 wrong key", pemOnly, authtest.Token(t, jwt.SigningMethodRS256, otherRSA, "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		// HS/RS confusion: an HS256 token whose "secret" is the public key.
		{"hs256 signed with the public key", pemOnly, authtest.Token(t, jwt.SigningMethodHS256, k.RSAPEMRaw, "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"hs256 signed with the public key, secret configured too", both, authtest.Token(t, jwt.SigningMethodHS256, k.RSAPEMRaw, "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"rs256 to an hs256-only server", hs, authtest.Token(t, jwt.SigningMethodRS256, k.RSA, "", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"es256 jwks by kid", jwks, authtest.Token(t, jwt.SigningMethodES256, k.EC, "ec-1", "u", all, -time.Minute, time.Hour), nil, ""},
		{"rs256 jwks by kid", jwks, authtest.Token(t, jwt.SigningMethodRS256, k.RSA, "rsa-1", "u", all, -time.Minute, time.Hour), nil, ""},
		{"es256 jwks unknown kid", jwks, authtest.Token(t, jwt.SigningMethodES256, k.EC, "nope", "u", all, -time.Minute, time.Hour), jwt.ErrTokenUnverifiable, ""},
		{"es256 jwks wrong key", jwks, authtest.Token(t, jwt.SigningMethodES256, otherEC, "ec-1", "u", all, -time.Minute, time.Hour), jwt.ErrTokenSignatureInvalid, ""},
		{"no sub", hs, authtest.Token(t, jwt.SigningMethodHS256, []byte(authtest.Secret), "", "", all, -time.Minute, time.Hour), nil, "no sub"},
		{"bad role", hs, authtest.HSToken(t, "u", map[string]string{"*": "owner"}), nil, "unknown role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := auth.New(tc.cfg.secret, tc.cfg.pem, tc.cfg.jwks, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			grant, err := a.Verify(tc.tok)
			switch {
			case tc.want == nil && tc.wantS == "":
				if err != nil || grant == nil || grant.User == "" {
					t.Fatalf("verify = %v, %v; want valid", grant, err)
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
	k := authtest.NewKeys(t)
	a, err := auth.New(k.SecretFile, "", "", 0)
	authtest.Must(t, err)
	grant, err := a.Verify(authtest.HSToken(t, "u", map[string]string{"*": "read", "docA": "write", "docB": "admin"}))
	authtest.Must(t, err)
	for doc, want := range map[string]session.Role{"docA": session.RoleWrite, "docB": session.RoleAdmin, "other": session.RoleRead} {
		if got := grant.Access(doc); got != want {
			t.Errorf("Access(%s) = %v, want %v", doc, got, want)
		}
	}
	grant, err = a.Verify(authtest.HSToken(t, "u", map[string]string{"docA": "read"}))
	authtest.Must(t, err)
	if got := grant.Access("other"); got != session.RoleNone {
		t.Errorf("Access(other) without wildcard = %v, want none", got)
	}
}

func TestAuthConfigErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	authtest.Must(t, os.WriteFile(short, []byte("too-short"), 0o600))
	if _, err := auth.New("", "", "", time.Second); err == nil {
		t.Error("jwt without keys accepted")
	}
	if _, err := auth.New(short, "", "", time.Second); err == nil {
		t.Error("short secret accepted")
	}
}

const fuzzLeeway = 30 * time.Second

// FuzzToken: extracting a token from a header, cookie or query parameter
// and verifying it (HS256, RS256 and ES256 from PEM and JWKS, and keys
// from a fuzzed JWK set or PEM) never panics, and whatever is accepted
// is checked again here, independently of golang-jwt: a signature that
// verifies under a configured key with an allowed algorithm, exp in the
// future and nbf in the past (within the leeway), and a subject.
func FuzzToken(f *testing.F) {
	k := authtest.LoadFixedKeys(f)
	all := map[string]string{"*": "write"}
	for _, tok := range []string{
		authtest.LongToken(f, jwt.SigningMethodHS256, []byte(authtest.Secret), "", "u", all),
		authtest.LongToken(f, jwt.SigningMethodRS256, k.RSA, "rsa-1", "u", all),
		authtest.LongToken(f, jwt.SigningMethodES256, k.EC, "ec-1", "u", map[string]string{"d": "read"}),
		authtest.LongToken(f, jwt.SigningMethodHS256, k.PEM, "", "u", all), // HS/RS confusion
		authtest.LongToken(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", "u", all),
		"not.a.token", "",
	} {
		for where := range uint8(4) {
			f.Add(where, where, tok, k.JWKS)
		}
		f.Add(uint8(0), uint8(3), tok, k.PEM)
	}
	dir := f.TempDir()
	keyFile := filepath.Join(dir, "fuzzed-keys")
	configs := make([]*auth.Authenticator, 4)
	for i, files := range [][3]string{{k.SecretFile, "", ""}, {"", k.PEMFile, ""}, {"", "", k.JWKSFile}, {k.SecretFile, k.PEMFile, k.JWKSFile}} {
		var err error
		configs[i], err = auth.New(files[0], files[1], files[2], fuzzLeeway)
		authtest.Must(f, err)
	}
	keysOf := func(a *auth.Authenticator) (secret []byte, pubs []any) {
		secret, keys := a.Keys()
		for _, e := range keys {
			pubs = append(pubs, e.Key)
		}
		return secret, pubs
	}

	f.Fuzz(func(t *testing.T, where, cfg uint8, tok string, keyset []byte) {
		r := httptest.NewRequest("GET", "/", nil)
		switch where % 5 {
		case 0:
			r.Header.Set("Authorization", "Bearer "+tok)
		case 1:
			r.Header.Set("Cookie", auth.TokenCookie+"="+tok)
		case 2:
			r.URL.RawQuery = auth.TokenQuery + "=" + tok
		case 3:
			r.URL.RawQuery = auth.TokenQuery + "=" + url.QueryEscape(tok)
		case 4:
			r.Header.Set("Authorization", tok) // the whole header fuzzed
		}
		a := configs[int(cfg)%len(configs)]
		if grant, err := a.Authenticate(r); err == nil {
			if grant == nil || grant.User == "" {
				t.Fatalf("accepted without a user: %q", tok)
			}
			secret, pubs := keysOf(a)
			checkAccepted(t, auth.RequestToken(r), a.Methods(), secret, pubs)
		}

		// Keys from a fuzzed JWK set or PEM file: valid keys only, and
		// what they accept passes the same check.
		jwksOK := false
		for i, parse := range []func([]byte) ([]auth.KeyEntry, error){auth.ParseJWKS, auth.ParsePEMKeys} {
			keys, err := parse(keyset)
			if err != nil {
				continue
			}
			jwksOK = jwksOK || i == 0
			for _, e := range keys {
				if pk, ok := e.Key.(*rsa.PublicKey); ok && pk.N.BitLen() < 2048 && i == 0 {
					t.Fatalf("JWKS RSA key of %d bits accepted", pk.N.BitLen())
				}
				if pk, ok := e.Key.(*ecdsa.PublicKey); ok {
					if _, err := pk.ECDH(); err != nil {
						t.Fatalf("invalid EC key accepted: %v", err)
					}
				}
			}
		}
		if jwksOK {
			authtest.Must(t, os.WriteFile(keyFile, keyset, 0o600))
			fa, err := auth.New("", "", keyFile, fuzzLeeway)
			if err != nil {
				return
			}
			if grant, err := fa.Verify(tok); err == nil {
				_, pubs := keysOf(fa)
				checkAccepted(t, tok, fa.Methods(), nil, pubs)
				if grant.User == "" {
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
		ok = len(secret) >= auth.MinSecret && hmac.Equal(sig, mac.Sum(nil))
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
