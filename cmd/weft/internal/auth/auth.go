package auth

import (
	"bytes"
	"context"
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
	TokenCookie = "weft_token"
	TokenQuery  = "token"
)

// MinSecret is the shortest HS256 secret accepted (RFC 7518 §3.2: at
// least the hash size).
const MinSecret = 32

// errNoToken: the request carries no token at all.
var errNoToken = errors.New("no token")

// Authenticator verifies the tokens of upgrades and API calls. A nil
// *Authenticator is the open mode (--auth none): everyone may write
// everything.
type Authenticator struct {
	secret  []byte     // HS256
	rsaKeys []KeyEntry // RS256
	ecKeys  []KeyEntry // ES256
	methods []string   // what WithValidMethods allows: only algorithms we hold keys for
	parser  *jwt.Parser
}

// KeyEntry is a public key and its key id ("" when the source has none).
type KeyEntry struct {
	Kid string
	Key crypto.PublicKey
}

// Claims are weft's token claims: sub (user id), name, docs (document id
// or "*" → read, write or admin).
type Claims struct {
	Name string            `json:"name,omitempty"`
	Docs map[string]string `json:"docs,omitempty"`
	jwt.RegisteredClaims
}

// New loads keys from the files given; at least one is needed.
func New(secretFile, publicKeyFile, jwksFile string, leeway time.Duration) (*Authenticator, error) {
	a := &Authenticator{}
	if secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return nil, fmt.Errorf("--jwt-secret-file: %w", err)
		}
		a.secret = bytes.TrimSpace(b)
		if len(a.secret) < MinSecret {
			return nil, fmt.Errorf("--jwt-secret-file: secret is %d bytes; use at least %d random bytes", len(a.secret), MinSecret)
		}
	}
	if publicKeyFile != "" {
		b, err := os.ReadFile(publicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--jwt-public-key-file: %w", err)
		}
		keys, err := ParsePEMKeys(b)
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
		keys, err := ParseJWKS(b)
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

func (a *Authenticator) addKeys(keys []KeyEntry) {
	for _, k := range keys {
		switch pk := k.Key.(type) {
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
func (a *Authenticator) keyfunc(t *jwt.Token) (any, error) {
	var pool []KeyEntry
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
		if kid == "" || k.Kid == "" || k.Kid == kid {
			set.Keys = append(set.Keys, k.Key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key with id %q", kid)
	}
	return set, nil
}

// Verify checks a token and returns what it grants.
func (a *Authenticator) Verify(token string) (*session.Auth, error) {
	var c Claims
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

// Authenticate verifies the request's token. A nil Authenticator allows
// everything.
func (a *Authenticator) Authenticate(r *http.Request) (*session.Auth, error) {
	if a == nil {
		return nil, nil
	}
	tok := RequestToken(r)
	if tok == "" {
		return nil, errNoToken
	}
	return a.Verify(tok)
}

// RequestToken finds a token in the Authorization header, the weft_token
// cookie, or the token query parameter, in that order.
func RequestToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	if c, err := r.Cookie(TokenCookie); err == nil && c.Value != "" {
		return c.Value
	}
	return r.URL.Query().Get(TokenQuery)
}

// Reason is the close reason or API message for a failed
// authentication: what a client needs to fix, not how verification works.
func Reason(err error) string {
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

// ParsePEMKeys reads public keys (PUBLIC KEY, RSA PUBLIC KEY or
// CERTIFICATE blocks) from PEM.
func ParsePEMKeys(b []byte) ([]KeyEntry, error) {
	var keys []KeyEntry
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
		keys = append(keys, KeyEntry{Key: k})
	}
	if len(keys) == 0 {
		return nil, errors.New("no public key found (want PEM PUBLIC KEY or CERTIFICATE blocks)")
	}
	return keys, nil
}

// ParseJWKS reads the RSA and P-256 EC keys of a JWK set (RFC 7517);
// other keys (private parts, other curves, "use": "enc") are skipped.
//
// Hand-written on purpose, after weighing github.com/MicahParks/jwkset
// (v0.11.4) and keyfunc/v3: keyfunc is built around fetching and
// refreshing a remote set, and selects keys by kid only, while weft loads
// one file and keeps its own key choice (the token's algorithm picks the
// key type, a kid narrows but is optional: keyfunc above). jwkset's
// parser would change what a set means here: an unknown kty or curve
// fails the whole set instead of being skipped, x5c chains and key_ops
// are checked, an oversized "e" is read modulo 2^64, and there is no RSA
// size floor. Keeping today's behaviour would need the same checks
// around it as the parser below has in it.
func ParseJWKS(b []byte) ([]KeyEntry, error) {
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
	var keys []KeyEntry
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
			keys = append(keys, KeyEntry{Kid: k.Kid, Key: &rsa.PublicKey{N: n, E: int(e.Int64())}})
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
			keys = append(keys, KeyEntry{Kid: k.Kid, Key: pk})
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no RSA or P-256 signing key in the set")
	}
	return keys, nil
}

// Methods are the algorithms a accepts: only those it holds keys for.
func (a *Authenticator) Methods() []string { return a.methods }

// Keys are a's HS256 secret (nil without one) and public keys, for checks
// that verify tokens independently.
func (a *Authenticator) Keys() (secret []byte, public []KeyEntry) {
	return a.secret, append(append([]KeyEntry{}, a.rsaKeys...), a.ecKeys...)
}

// authKey carries the verified *session.Auth of a request.
type authKey struct{}

// NewContext returns ctx carrying what a request's token grants (nil: the
// open mode).
func NewContext(ctx context.Context, a *session.Auth) context.Context {
	return context.WithValue(ctx, authKey{}, a)
}

// FromContext is what NewContext stored; nil in the open mode.
func FromContext(ctx context.Context) *session.Auth {
	a, _ := ctx.Value(authKey{}).(*session.Auth)
	return a
}
