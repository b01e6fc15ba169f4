package auth

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-dev/weft/session"
)

// MintOptions are what "weft token" puts in a development token.
type MintOptions struct {
	SecretFile string
	Subject    string
	Name       string
	Docs       map[string]string // document id or "*" → read, write or admin
	TTL        time.Duration
}

// Mint signs an HS256 token with the secret in o.SecretFile, valid from
// now for o.TTL: what a server with the same --jwt-secret-file accepts.
func Mint(o MintOptions) (string, error) {
	if o.TTL <= 0 {
		return "", fmt.Errorf("--ttl must be positive")
	}
	for doc, r := range o.Docs {
		if _, err := session.ParseRole(r); err != nil {
			return "", fmt.Errorf("docs[%q]: %w", doc, err)
		}
	}
	b, err := os.ReadFile(o.SecretFile)
	if err != nil {
		return "", fmt.Errorf("reading the secret: %w", err)
	}
	secret := bytes.TrimSpace(b)
	if len(secret) < MinSecret {
		return "", fmt.Errorf("secret is %d bytes; use at least %d random bytes", len(secret), MinSecret)
	}
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{
		Name: o.Name,
		Docs: o.Docs,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   o.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL)),
		},
	}).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("signing the token: %w", err)
	}
	return tok, nil
}
