package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/weft-dev/weft/crdt"
)

func main() {
	// Worker processes of the Automerge engine are this same binary.
	crdt.MaybeRunWorker()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		// A second signal exits at once.
		<-ctx.Done()
		stop()
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		<-c
		fmt.Fprintln(os.Stderr, "weft: second signal, exiting now")
		os.Exit(130)
	}()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "weft:", err)
		os.Exit(1)
	}
}

const usage = `weft — a collaborative document server (automerge-repo sync protocol)

Usage:
  weft serve [flags]     run a node (the default command)
  weft token [flags]     mint an HS256 token for development (--secret-file F --sub u --doc '*=write' --ttl 1h)
  weft export [flags]    write documents to a tar archive (--data DIR | --server URL --token T, --doc ID, -o FILE)
  weft import [flags]    merge an export archive into a node (--data DIR | --server URL --token T, -i FILE)
  weft backup [flags]    copy the whole data file consistently (--server URL --token T | --data DIR, -o FILE)
  weft version           print the version

Run "weft serve -h" for the server's flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "token":
		return mintToken(args, stdout, stderr)
	case "export":
		return exportCmd(ctx, args, stdout, stderr)
	case "import":
		return importCmd(ctx, args, stdout, stderr)
	case "backup":
		return backupCmd(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "weft", version)
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

var version = "dev"
