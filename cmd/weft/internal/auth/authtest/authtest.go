package authtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
)

// Secret is the HS256 test secret.
const Secret = "0123456789abcdef0123456789abcdef-test-secret"

// Keys is a set of fresh test keys and the files the server reads them
// from.
type Keys struct {
	Dir        string
	SecretFile string
	RSA        *rsa.PrivateKey
	RSAPEM     string // file
	RSAPEMRaw  []byte
	EC         *ecdsa.PrivateKey
	JWKS       string // file: the EC key (kid "ec-1") and the RSA key (kid "rsa-1")
}

// NewKeys makes fresh keys and writes their files in a temporary
// directory of t.
func NewKeys(t testing.TB) *Keys {
	t.Helper()
	k := &Keys{Dir: t.TempDir()}
	k.SecretFile = filepath.Join(k.Dir, "secret")
	Must(t, os.WriteFile(k.SecretFile, []byte(Secret+"\n"), 0o600))
	var err error
	if k.RSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.RSA.PublicKey)
	Must(t, err)
	k.RSAPEMRaw = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	k.RSAPEM = filepath.Join(k.Dir, "rsa.pem")
	Must(t, os.WriteFile(k.RSAPEM, k.RSAPEMRaw, 0o644))
	if k.EC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.JWKS = filepath.Join(k.Dir, "jwks.json")
	Must(t, os.WriteFile(k.JWKS, JWKSOf(t, k.RSA, k.EC), 0o644))
	return k
}

// JWKSOf is a JWK set of the public halves of ecKey (kid "ec-1") and
// rsaKey (kid "rsa-1").
func JWKSOf(t testing.TB, rsaKey *rsa.PrivateKey, ecKey *ecdsa.PrivateKey) []byte {
	t.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	ecBytes, err := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	Must(t, err)
	js, err := json.Marshal(map[string]any{"keys": []map[string]string{
		{"kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256", "x": b64(ecBytes[1:33]), "y": b64(ecBytes[33:])},
		{"kty": "RSA", "kid": "rsa-1", "n": b64(rsaKey.N.Bytes()), "e": b64([]byte{1, 0, 1})},
	}})
	Must(t, err)
	return js
}

// Must fails t on an error.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Token signs claims for sub with docs, valid from nbf to exp (relative to now).
func Token(t testing.TB, method jwt.SigningMethod, key any, kid, sub string, docs map[string]string, nbf, exp time.Duration) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(method, auth.Claims{Name: "Test " + sub, Docs: docs, RegisteredClaims: jwt.RegisteredClaims{
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

// HSToken is a valid HS256 token of Secret for sub with docs.
func HSToken(t testing.TB, sub string, docs map[string]string) string {
	return Token(t, jwt.SigningMethodHS256, []byte(Secret), "", sub, docs, -time.Minute, time.Hour)
}

// Fixed keys for the fuzz targets, so that the seeds under testdata/fuzz
// (tokens signed with them, valid until 2100) stay valid. Test keys only.
const (
	fixedRSAKey = `-----BEGIN PRIVATE KEY-----
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
	fixedECKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgwMyDeMoDQNyQ8Y9K
Ozj+W5hZUIHWsL0sh0wGjj/SFh2hRANCAATF2Bs+9CklaIvM1v/ZEFQqGxFxuVlM
D1unr3JdpkynCnWOVhOruGx+L0DVWnF1ZaGAtxYs/fJc86c7sEeKaFe/
-----END PRIVATE KEY-----`
)

// FixedKeys are the fixed keys and the files the server reads them from.
type FixedKeys struct {
	RSA                           *rsa.PrivateKey
	EC                            *ecdsa.PrivateKey
	SecretFile, PEMFile, JWKSFile string
	PEM, JWKS                     []byte
}

// LoadFixedKeys parses the fixed keys and writes their files in a
// temporary directory of tb.
func LoadFixedKeys(tb testing.TB) *FixedKeys {
	tb.Helper()
	parse := func(s string) any {
		blk, _ := pem.Decode([]byte(s))
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		Must(tb, err)
		return k
	}
	k := &FixedKeys{RSA: parse(fixedRSAKey).(*rsa.PrivateKey), EC: parse(fixedECKey).(*ecdsa.PrivateKey)}
	for _, pub := range []any{&k.RSA.PublicKey, &k.EC.PublicKey} {
		der, err := x509.MarshalPKIXPublicKey(pub)
		Must(tb, err)
		k.PEM = append(k.PEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	k.JWKS = JWKSOf(tb, k.RSA, k.EC)
	dir := tb.TempDir()
	k.SecretFile, k.PEMFile, k.JWKSFile = filepath.Join(dir, "secret"), filepath.Join(dir, "keys.pem"), filepath.Join(dir, "jwks.json")
	Must(tb, os.WriteFile(k.SecretFile, []byte(Secret), 0o600))
	Must(tb, os.WriteFile(k.PEMFile, k.PEM, 0o600))
	Must(tb, os.WriteFile(k.JWKSFile, k.JWKS, 0o600))
	return k
}

// LongToken signs claims valid from 2020 to 2100 (fit for stored seeds).
func LongToken(tb testing.TB, m jwt.SigningMethod, key any, kid, sub string, docs map[string]string) string {
	tb.Helper()
	return Token(tb, m, key, kid, sub, docs,
		time.Until(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)), time.Until(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)))
}
