package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/weft-dev/weft/session"
)

// docFlags collects repeated --doc id=role flags.
type docFlags map[string]string

func (d docFlags) String() string { return fmt.Sprint(map[string]string(d)) }

func (d docFlags) Set(v string) error {
	id, role, ok := strings.Cut(v, "=")
	if !ok || id == "" {
		return errors.New("want DOCUMENT=ROLE (DOCUMENT an id or *, ROLE read, write or admin)")
	}
	if _, err := session.ParseRole(role); err != nil {
		return err
	}
	d[id] = role
	return nil
}

// mintToken is "weft token": an HS256 token for development and tests.
func mintToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weft token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secretFile := fs.String("secret-file", "", "file holding the HS256 secret (the server's --jwt-secret-file)")
	sub := fs.String("sub", "", "subject: the user id")
	name := fs.String("name", "", "display name")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	docs := docFlags{}
	fs.Var(docs, "doc", "DOCUMENT=ROLE, repeatable: a document id or * and read, write or admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secretFile == "" || *sub == "" {
		return errors.New("weft token needs --secret-file and --sub")
	}
	if *ttl <= 0 {
		return errors.New("--ttl must be positive")
	}
	b, err := os.ReadFile(*secretFile)
	if err != nil {
		return err
	}
	secret := bytes.TrimSpace(b)
	if len(secret) < minSecret {
		return fmt.Errorf("secret is %d bytes; use at least %d random bytes", len(secret), minSecret)
	}
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims{
		Name: *name,
		Docs: docs,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   *sub,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(*ttl)),
		},
	}).SignedString(secret)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
