package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/clientip"
	"github.com/weft-dev/weft/cmd/weft/internal/cluster"
	"github.com/weft-dev/weft/cmd/weft/internal/membudget"
	"github.com/weft-dev/weft/cmd/weft/internal/node"
	"github.com/weft-dev/weft/cmd/weft/internal/tlsreload"
	"github.com/weft-dev/weft/session/webhook"
)

// serveFlags are the flags of "weft serve" that need more than a copy
// into node.Config.
type serveFlags struct {
	cfg            node.Config
	logFormat      string
	logLevel       string
	budget         string
	allowedOrigins string
	webhooks       string
	nats           cluster.Options
	insecureOpen   bool
	jwtSecretFile  string
	jwtPublicKey   string
	jwtJWKS        string
	jwtLeeway      time.Duration
	tlsCert        string
	tlsKey         string
	trustedProxies string
}

// serve is "weft serve": it reads the flags, builds the parts they name
// and runs a node until ctx ends.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := f.nodeConfig(stdout, stderr)
	if err != nil {
		return err
	}
	return node.New(cfg).Run(ctx)
}

// register declares every flag of "weft serve" on fs.
func (f *serveFlags) register(fs *flag.FlagSet) {
	c := &f.cfg
	fs.StringVar(&c.Addr, "addr", "localhost:8080", "listen address (host:port; port 0 picks a free port)")
	fs.StringVar(&c.Data, "data", "./data", "data directory (holds weft.db; one process at a time)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.JoinTimeout, "join-timeout", 30*time.Second, "close connections that send no join within this time")
	fs.DurationVar(&c.IdleUnload, "idle-unload", 30*time.Second, "unload a document this long after its last peer left")
	fs.StringVar(&f.budget, "memory-budget", membudget.Default, "engine memory for open documents (512MiB, 2GB, or a percentage of the machine's or container's memory); over it, the least recently used documents without peers are unloaded; 0: no budget")
	fs.IntVar(&c.Workers, "workers", runtime.NumCPU(), "Automerge worker processes")
	fs.Int64Var(&c.MaxMessage, "max-message", 100<<20, "largest WebSocket message accepted, in bytes")
	fs.IntVar(&c.SendQueue, "send-queue", 256, "frames queued per connection before a slow reader is disconnected")
	fs.DurationVar(&c.PingPeriod, "ping-period", 20*time.Second, "WebSocket ping interval; a peer silent for twice as long is dropped")
	fs.StringVar(&c.PprofAddr, "pprof", "", "serve Go's profiler (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060; empty: off")
	fs.StringVar(&f.webhooks, "webhooks", "", "JSON file of webhooks (url, secret or secretFile, events, docs) notified of document changes")
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated extra origins (host:port) allowed to open WebSockets; * allows any")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 20*time.Second, "how long a graceful shutdown may take")
	fs.StringVar(&f.nats.URLs, "nats", "", "comma-separated NATS server URLs (nats://host:4222), JetStream enabled: keep documents in JetStream and join the other weft nodes on them; empty runs a single node on bbolt")
	fs.StringVar(&f.nats.Creds, "nats-creds", "", "NATS user credentials file (JWT and nkey seed)")
	fs.StringVar(&f.nats.TLSCA, "nats-tls-ca", "", "CA certificate file to verify the NATS servers (tls:// URLs)")
	fs.IntVar(&f.nats.Replicas, "replicas", 3, "with --nats: how many JetStream servers hold each document (capped at the JetStream cluster's size)")
	fs.DurationVar(&f.nats.ConnectWait, "nats-wait", 30*time.Second, "with --nats: how long to wait at start for a NATS server (a cluster node keeps its documents in JetStream)")
	fs.StringVar(&f.nats.NodeID, "node-id", "", "this node's id in the cluster; empty: one made up once and kept in the data directory")
	f.registerSecurity(fs)
}

// registerSecurity declares the flags of authentication, limits, TLS and
// proxies.
func (f *serveFlags) registerSecurity(fs *flag.FlagSet) {
	c := &f.cfg
	fs.StringVar(&c.AuthMode, "auth", "", "authentication: none or jwt (default: none on a loopback --addr; required elsewhere)")
	fs.BoolVar(&f.insecureOpen, "insecure-open", false, "allow --auth none on a non-loopback address: anyone who reaches it may read and write every document")
	fs.StringVar(&f.jwtSecretFile, "jwt-secret-file", "", "file holding the HS256 shared secret (at least 32 bytes)")
	fs.StringVar(&f.jwtPublicKey, "jwt-public-key-file", "", "PEM file of RS256/ES256 public keys (PUBLIC KEY or CERTIFICATE blocks)")
	fs.StringVar(&f.jwtJWKS, "jwt-jwks-file", "", "JWK set (JSON) of RS256/ES256 public keys, chosen by kid")
	fs.DurationVar(&f.jwtLeeway, "jwt-leeway", 30*time.Second, "clock skew allowed on exp and nbf (at most 5m)")
	fs.StringVar(&c.FrameAncestors, "frame-ancestors", "", "CSP frame-ancestors for the editor pages (sites allowed to embed it); empty: 'self'")
	fs.IntVar(&c.MaxConns, "max-conns", 20000, "WebSocket connections in total (more get close 4005, try again later); 0: no cap")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 200, "WebSocket connections per remote address (behind a proxy, all share its address); 0: no cap")
	fs.Float64Var(&c.AdmissionRate, "admission-rate", 200, "new WebSocket connections admitted per second (others get close 4005 and retry); 0: no limit")
	fs.IntVar(&c.AdmissionBurst, "admission-burst", 400, "burst of the admission bucket")
	fs.Float64Var(&c.APIRate, "api-rate", 100, "HTTP API calls per second per client IP (429 beyond, bursts of --api-burst); 0: no limit")
	fs.IntVar(&c.APIBurst, "api-burst", 200, "burst of HTTP API calls per client IP")
	fs.Float64Var(&c.ConnMsgRate, "conn-msg-rate", 10000, "messages per second per connection (throttled; cut with 4006 after 5s over); 0: no limit")
	fs.IntVar(&c.ConnMsgBurst, "conn-msg-burst", 20000, "burst of the per-connection message bucket")
	fs.Int64Var(&c.ConnBytesRate, "conn-bytes-rate", 20<<20, "bytes per second per connection (throttled like --conn-msg-rate); 0: no limit")
	fs.IntVar(&c.MaxDocsPerConn, "max-docs-per-conn", 1000, "documents one connection may open (more: close 4506)")
	fs.Float64Var(&c.EphemeralRate, "ephemeral-rate", 100, "ephemeral messages per second per connection (the excess is dropped); negative: no limit")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve https and wss; reloaded on SIGHUP")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed (client address for limits, bans and audit lines; https for the origin check); default none")
}

// parseServeFlags parses and checks the flags (files are read later, by
// nodeConfig).
func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("weft serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if f.cfg.MemoryBudget, err = membudget.Parse(f.budget, membudget.Available()); err != nil {
		return nil, err
	}
	if f.cfg.Proxies, err = clientip.ParseTrustedProxies(f.trustedProxies); err != nil {
		return nil, err
	}
	if f.cfg.PprofAddr != "" && !isLoopback(f.cfg.PprofAddr) {
		return nil, fmt.Errorf("--pprof %s: the profiler listens on loopback addresses only", f.cfg.PprofAddr)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	return f, f.checkAuthMode()
}

// checkAuthMode settles --auth: open mode only on loopback unless
// --insecure-open says otherwise.
func (f *serveFlags) checkAuthMode() error {
	addr := f.cfg.Addr
	switch f.cfg.AuthMode {
	case "":
		f.cfg.AuthMode = "none"
		if !isLoopback(addr) && !f.insecureOpen {
			return fmt.Errorf("--addr %s is not a loopback address: use --auth jwt (or --insecure-open to serve every document to anyone)", addr)
		}
	case "none":
		if !isLoopback(addr) && !f.insecureOpen {
			return fmt.Errorf("--auth none on the non-loopback address %s needs --insecure-open", addr)
		}
	case "jwt":
	default:
		return fmt.Errorf("--auth must be none or jwt, not %q", f.cfg.AuthMode)
	}
	return nil
}

// nodeConfig completes the node's configuration: the logger, and the
// parts read from files (certificate, keys, webhooks).
func (f *serveFlags) nodeConfig(stdout, stderr io.Writer) (node.Config, error) {
	cfg := f.cfg
	var err error
	if cfg.Logger, err = newLogger(f.logFormat, f.logLevel, stderr); err != nil {
		return cfg, err
	}
	cfg.Stdout, cfg.Version = stdout, version
	if f.tlsCert != "" {
		if cfg.TLS, err = tlsreload.New(f.tlsCert, f.tlsKey, cfg.Logger); err != nil {
			return cfg, err
		}
	}
	if cfg.AuthMode == "jwt" {
		if cfg.Auth, err = auth.New(f.jwtSecretFile, f.jwtPublicKey, f.jwtJWKS, f.jwtLeeway); err != nil {
			return cfg, err
		}
	}
	if f.webhooks != "" {
		if cfg.Webhooks, err = webhook.Load(f.webhooks); err != nil {
			return cfg, err
		}
	}
	for _, o := range strings.Split(f.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, o)
		}
	}
	if f.nats.URLs != "" {
		nats := f.nats
		cfg.Cluster = &nats
	}
	return cfg, nil
}

func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
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
