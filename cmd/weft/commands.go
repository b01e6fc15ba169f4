package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/backup"
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
	o := auth.MintOptions{Docs: docFlags{}}
	fs.StringVar(&o.SecretFile, "secret-file", "", "file holding the HS256 secret (the server's --jwt-secret-file)")
	fs.StringVar(&o.Subject, "sub", "", "subject: the user id")
	fs.StringVar(&o.Name, "name", "", "display name")
	fs.DurationVar(&o.TTL, "ttl", time.Hour, "lifetime")
	fs.Var(docFlags(o.Docs), "doc", "DOCUMENT=ROLE, repeatable: a document id or * and read, write or admin")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.SecretFile == "" || o.Subject == "" {
		return errors.New("weft token needs --secret-file and --sub")
	}
	tok, err := auth.Mint(o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// docList collects repeated --doc flags.
type docList []string

func (d *docList) String() string     { return strings.Join(*d, ",") }
func (d *docList) Set(v string) error { *d = append(*d, v); return nil }

// sourceFlags declares the flags that pick the other side of export,
// import and backup: a data file or a server.
func sourceFlags(fs *flag.FlagSet, s *backup.Source) {
	fs.StringVar(&s.Data, "data", "", "data directory (or its weft.db) of a stopped node")
	fs.StringVar(&s.Server, "server", "", "URL of a running node (http://host:port)")
	fs.StringVar(&s.Token, "token", os.Getenv("WEFT_TOKEN"), "bearer token for --server (default $WEFT_TOKEN)")
}

// parseFlagsOnly parses a subcommand's arguments: flags, nothing else.
func parseFlagsOnly(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return nil
}

// exportCmd is "weft export".
func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weft export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := backup.ExportOptions{Version: version, Stdout: stdout, Stderr: stderr}
	sourceFlags(fs, &o.Source)
	fs.Var((*docList)(&o.Docs), "doc", "export only this document (repeatable); default: every document")
	fs.StringVar(&o.Out, "o", "-", "output tar file; - is stdout")
	fs.BoolVar(&o.Force, "force", false, "replace the output file if it exists")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	return backup.Export(ctx, o)
}

// importCmd is "weft import".
func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weft import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := backup.ImportOptions{Stdin: os.Stdin, Stderr: stderr}
	sourceFlags(fs, &o.Source)
	fs.StringVar(&o.In, "i", "-", "input tar file (from weft export); - is stdin")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	return backup.Import(ctx, o)
}

// backupCmd is "weft backup".
func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weft backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := backup.Options{Stderr: stderr}
	sourceFlags(fs, &o.Source)
	fs.StringVar(&o.Out, "o", "weft-backup.db", "output file (a bbolt file: weft serve --data opens its directory)")
	fs.BoolVar(&o.Force, "force", false, "replace the output file if it exists")
	if err := parseFlagsOnly(fs, args); err != nil {
		return err
	}
	return backup.Backup(ctx, o)
}
