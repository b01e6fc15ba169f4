package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-dev/weft/session"
)

// Where a token may come from: browsers cannot set headers on a
// WebSocket, so a cookie or a query parameter carry it there.
const (
	tokenCookie = "weft_token"
	tokenQuery  = "token"
)

// minSecret is the shortest HS256 secret accepted (RFC 7518 §3.2: at
// least the hash size).
const minSecret = 32

// errNoToken: the request carries no token at all.
var errNoToken = errors.New("no token")

// authenticator verifies the tokens of upgrades and API calls. A nil
// *authenticator is the open mode (--auth none): everyone may write
// everything.
type authenticator struct {
	secret  []byte     // HS256
	rsaKeys []keyEntry // RS256
	ecKeys  []keyEntry // ES256
	methods []string   // what WithValidMethods allows: only algorithms we hold keys for
	parser  *jwt.Parser
}

type keyEntry struct {
	kid string
	key crypto.PublicKey
}

// claims are weft's token claims: sub (user id), name, docs (document id
// or "*" → read, write or admin).
type claims struct {
	Name string            `json:"name,omitempty"`
	Docs map[string]string `json:"docs,omitempty"`
	jwt.RegisteredClaims
}

// newAuthenticator loads keys from the files given; at least one is needed.
func newAuthenticator(secretFile, publicKeyFile, jwksFile string, leeway time.Duration) (*authenticator, error) {
	a := &authenticator{}
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("--jwt-secret-file: %w", err)
		}
		a.secret = bytes.TrimSpace(b)
		if len(a.secret) < minSecret {
			return nil, fmt.Errorf("--jwt-secret-file: secret is %d bytes; use at least %d random bytes", len(a.secret), minSecret)
		}
	}
	if publicKeyFile != "" {
		b, err := os.ReadFile(publicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key-file: %w", err)
		}
		keys, err := parsePEMKeys(b)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key-file: %w", err)
		}
		a.addKeys(keys)
	}
	if jwksFile != "" {
		b, err := os.ReadFile(jwksFile)
		if err != nil {
			return nil, fmt.Errorf("--jwt-jwks-file: %w", err)
		}
		keys, err := parseJWKS(b)
		if err != nil {
			return nil, fmt.Errorf("--jwt-jwks-file: %w", err)
		}
		a.addKeys(keys)
	}
	if a.secret != nil {
		a.methods = append(a.methods, jwt.SigningMethodHS256.Alg())
	}
	if len(a.rsaKeys) > 0 {
		a.methods = append(a.methods, jwt.SigningMethodRS256.Alg())
	}
	if len(a.ecKeys) > 0 {
		a.methods = append(a.methods, jwt.SigningMethodES256.Alg())
	}
	if len(a.methods) == 0 {
		return nil, errors.New("--auth jwt needs --jwt-secret-file, --jwt-public-key-file or --jwt-jwks-file")
	}
	if leeway < 0 || leeway > 5*time.Minute {
		return nil, fmt.Errorf("--jwt-leeway %v: must be between 0 and 5m", leeway)
	}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods(a.methods), // never "none", never an algorithm we hold no key for
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
	)
	return a, nil
}

func (a *authenticator) addKeys(keys []keyEntry) {
	for _, k := range keys {
		switch pk := k.key.(type) {
		case *rsa.PublicKey:
			a.rsaKeys = append(a.rsaKeys, k)
		case *ecdsa.PublicKey:
			if pk.Curve == elliptic.P256() {
				a.ecKeys = append(a.ecKeys, k)
			}
		}
	}
}

// keyfunc hands the parser only keys of the kind the token's algorithm
// uses (the library checks the type too: no HS/RS confusion), narrowed to
// the token's kid when it names one.
func (a *authenticator) keyfunc(t *jwt.Token) (any, error) {
	var pool []keyEntry
	switch t.Method.Alg() {
	case "HS256":
		return a.secret, nil
	case "RS256":
		pool = a.rsaKeys
	case "ES256":
		pool = a.ecKeys
	default:
		return nil, fmt.Errorf("algorithm %s not accepted", t.Method.Alg())
	}
	kid, _ := t.Header["kid"].(string)
	set := jwt.VerificationKeySet{}
	for _, k := range pool {
		if kid == "" || k.kid == "" || k.kid == kid {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key with id %q", kid)
	}
	return set, nil
}

// verify checks a token and returns what it grants.
func (a *authenticator) verify(token string) (*session.Auth, error) {
	var c claims
	if _, err := a.parser.ParseWithClaims(token, &c, a.keyfunc); err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, errors.New("token has no sub")
	}
	roles := make(map[string]session.Role, len(c.Docs))
	for doc, r := range c.Docs {
		role, err := session.ParseRole(r)
		if err != nil {
			return nil, fmt.Errorf("docs[%q]: %w", doc, err)
		}
		roles[doc] = role
	}
	return &session.Auth{User: c.Subject, Name: c.Name, Access: func(doc string) session.Role {
		if r, ok := roles[doc]; ok {
			return r
		}
		return roles["*"]
	}}, nil
}

// authenticate verifies the request's token. A nil authenticator allows
// everything.
func (a *authenticator) authenticate(r *http.Request) (*session.Auth, error) {
	if a == nil {
		return nil, nil
	}
	tok := requestToken(r)
	if tok == "" {
		return nil, errNoToken
	}
	return a.verify(tok)
}

// requestToken finds a token in the Authorization header, the weft_token
// cookie, or the token query parameter, in that order.
func requestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	if c, err := r.Cookie(tokenCookie); err == nil && c.Value != "" {
		return c.Value
	}
	return r.URL.Query().Get(tokenQuery)
}

// authReason is the close reason or API message for a failed
// authentication: what a client needs to fix, not how verification works.
func authReason(err error) string {
	switch {
	case errors.Is(err, errNoToken):
		return "authentication required: send a token"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	}
	return "invalid token"
}

// parsePEMKeys reads public keys (PUBLIC KEY, RSA PUBLIC KEY or
// CERTIFICATE blocks) from PEM.
func parsePEMKeys(b []byte) ([]keyEntry, error) {
	var keys []keyEntry
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		var (
			k   any
			err error
		)
		switch blk.Type {
		case "PUBLIC KEY":
			k, err = x509.ParsePKIXPublicKey(blk.Bytes)
		case "RSA PUBLIC KEY":
			k, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(blk.Bytes); err == nil {
				k = cert.PublicKey
			}
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, keyEntry{key: k})
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key found (want PEM PUBLIC KEY or CERTIFICATE blocks)")
	}
	return keys, nil
}

// parseJWKS reads the RSA and P-256 EC keys of a JWK set (RFC 7517);
// other keys (private parts, other curves, "use": "enc") are skipped.
func parseJWKS(b []byte) ([]keyEntry, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	num := func(s string) (*big.Int, error) {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil || len(raw) == 0 {
			return nil, fmt.Errorf("bad base64url number %q", s)
		}
		return new(big.Int).SetBytes(raw), nil
	}
	var keys []keyEntry
	for i, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err := num(k.N)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
			e, err := num(k.E)
			if err != nil || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
				return nil, fmt.Errorf("key %d: bad exponent", i)
			}
			if n.BitLen() < 2048 {
				return nil, fmt.Errorf("key %d: RSA key of %d bits; want at least 2048", i, n.BitLen())
			}
			keys = append(keys, keyEntry{kid: k.Kid, key: &rsa.PublicKey{N: n, E: int(e.Int64())}})
		case "EC":
			if k.Crv != "P-256" {
				continue
			}
			x, err := num(k.X)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
			y, err := num(k.Y)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
			// Validate the point through the uncompressed encoding.
			raw := make([]byte, 65)
			raw[0] = 4
			if len(x.Bytes()) > 32 || len(y.Bytes()) > 32 {
				return nil, fmt.Errorf("key %d: coordinates too long", i)
			}
			x.FillBytes(raw[1:33])
			y.FillBytes(raw[33:])
			pk, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
			if err != nil {
				return nil, fmt.Errorf("key %d: %w", i, err)
			}
			keys = append(keys, keyEntry{kid: k.Kid, key: pk})
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no RSA or P-256 signing key in the set")
	}
	return keys, nil
}

// isLoopback reports whether a listen address only accepts local
// connections ("" or an unspecified host listens everywhere).
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
