package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/natsrelay"
	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage"
)

type serveFlags struct {
	addr           string
	data           string
	logFormat      string
	logLevel       string
	joinTimeout    time.Duration
	idleUnload     time.Duration
	memoryBudget   int64
	workers        int
	maxMessage     int64
	sendQueue      int
	pingPeriod     time.Duration
	allowedOrigins string
	webhooks       string
	pprofAddr      string
	shutdownGrace  time.Duration
	natsURLs       string
	natsCreds      string
	natsTLSCA      string
	nodeID         string

	auth           string
	insecureOpen   bool
	jwtSecretFile  string
	jwtPublicKey   string
	jwtJWKS        string
	jwtLeeway      time.Duration
	frameAncestors string

	maxConns       int
	maxConnsPerIP  int
	admissionRate  float64
	admissionBurst int
	apiRate        float64
	apiBurst       int
	connMsgRate    float64
	connMsgBurst   int
	connBytesRate  int64
	maxDocsPerConn int
	ephemeralRate  float64

	tlsCert string
	tlsKey  string

	trustedProxies string
	proxies        trustedProxies
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("weft serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.addr, "addr", "localhost:8080", "listen address (host:port; port 0 picks a free port)")
	fs.StringVar(&f.data, "data", "./data", "data directory (holds weft.db; one process at a time)")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&f.joinTimeout, "join-timeout", 30*time.Second, "close connections that send no join within this time")
	fs.DurationVar(&f.idleUnload, "idle-unload", 30*time.Second, "unload a document this long after its last peer left")
	budget := fs.String("memory-budget", defaultMemoryBudget, "engine memory for open documents (512MiB, 2GB, or a percentage of the machine's or container's memory); over it, the least recently used documents without peers are unloaded; 0: no budget")
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "Automerge worker processes")
	fs.Int64Var(&f.maxMessage, "max-message", 100<<20, "largest WebSocket message accepted, in bytes")
	fs.IntVar(&f.sendQueue, "send-queue", 256, "frames queued per connection before a slow reader is disconnected")
	fs.DurationVar(&f.pingPeriod, "ping-period", 20*time.Second, "WebSocket ping interval; a peer silent for twice as long is dropped")
	fs.StringVar(&f.pprofAddr, "pprof", "", "serve Go's profiler (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060; empty: off")
	fs.StringVar(&f.webhooks, "webhooks", "", "JSON file of webhooks (url, secret or secretFile, events, docs) notified of document changes")
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated extra origins (host:port) allowed to open WebSockets; * allows any")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 20*time.Second, "how long a graceful shutdown may take")
	fs.StringVar(&f.natsURLs, "nats", "", "comma-separated NATS server URLs (nats://host:4222): join the other weft nodes on them; empty runs a single node")
	fs.StringVar(&f.natsCreds, "nats-creds", "", "NATS user credentials file (JWT and nkey seed)")
	fs.StringVar(&f.natsTLSCA, "nats-tls-ca", "", "CA certificate file to verify the NATS servers (tls:// URLs)")
	fs.StringVar(&f.nodeID, "node-id", "", "this node's id in the cluster; empty: one made up once and kept in the data directory")
	fs.StringVar(&f.auth, "auth", "", "authentication: none or jwt (default: none on a loopback --addr; required elsewhere)")
	fs.BoolVar(&f.insecureOpen, "insecure-open", false, "allow --auth none on a non-loopback address: anyone who reaches it may read and write every document")
	fs.StringVar(&f.jwtSecretFile, "jwt-secret-file", "", "file holding the HS256 shared secret (at least 32 bytes)")
	fs.StringVar(&f.jwtPublicKey, "jwt-public-key-file", "", "PEM file of RS256/ES256 public keys (PUBLIC KEY or CERTIFICATE blocks)")
	fs.StringVar(&f.jwtJWKS, "jwt-jwks-file", "", "JWK set (JSON) of RS256/ES256 public keys, chosen by kid")
	fs.DurationVar(&f.jwtLeeway, "jwt-leeway", 30*time.Second, "clock skew allowed on exp and nbf (at most 5m)")
	fs.StringVar(&f.frameAncestors, "frame-ancestors", "", "CSP frame-ancestors for the editor pages (sites allowed to embed it); empty: 'self'")
	fs.IntVar(&f.maxConns, "max-conns", 20000, "WebSocket connections in total (more get close 4005, try again later); 0: no cap")
	fs.IntVar(&f.maxConnsPerIP, "max-conns-per-ip", 200, "WebSocket connections per remote address (behind a proxy, all share its address); 0: no cap")
	fs.Float64Var(&f.admissionRate, "admission-rate", 200, "new WebSocket connections admitted per second (others get close 4005 and retry); 0: no limit")
	fs.IntVar(&f.admissionBurst, "admission-burst", 400, "burst of the admission bucket")
	fs.Float64Var(&f.apiRate, "api-rate", 100, "HTTP API calls per second per client IP (429 beyond, bursts of --api-burst); 0: no limit")
	fs.IntVar(&f.apiBurst, "api-burst", 200, "burst of HTTP API calls per client IP")
	fs.Float64Var(&f.connMsgRate, "conn-msg-rate", 10000, "messages per second per connection (throttled; cut with 4006 after 5s over); 0: no limit")
	fs.IntVar(&f.connMsgBurst, "conn-msg-burst", 20000, "burst of the per-connection message bucket")
	fs.Int64Var(&f.connBytesRate, "conn-bytes-rate", 20<<20, "bytes per second per connection (throttled like --conn-msg-rate); 0: no limit")
	fs.IntVar(&f.maxDocsPerConn, "max-docs-per-conn", 1000, "documents one connection may open (more: close 4506)")
	fs.Float64Var(&f.ephemeralRate, "ephemeral-rate", 100, "ephemeral messages per second per connection (the excess is dropped); negative: no limit")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate (chain) file: serve https and wss; reloaded on SIGHUP")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key file for --tls-cert")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs of reverse proxies whose X-Forwarded-For/-Proto are believed (client address for limits, bans and audit lines; https for the origin check); default none")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if f.memoryBudget, err = parseMemoryBudget(*budget, availableMemory()); err != nil {
		return nil, err
	}
	if f.proxies, err = parseTrustedProxies(f.trustedProxies); err != nil {
		return nil, err
	}
	if f.pprofAddr != "" && !isLoopback(f.pprofAddr) {
		return nil, fmt.Errorf("--pprof %s: the profiler listens on loopback addresses only", f.pprofAddr)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	switch f.auth {
	case "":
		f.auth = "none"
		if !isLoopback(f.addr) && !f.insecureOpen {
			return nil, fmt.Errorf("--addr %s is not a loopback address: use --auth jwt (or --insecure-open to serve every document to anyone)", f.addr)
		}
	case "none":
		if !isLoopback(f.addr) && !f.insecureOpen {
			return nil, fmt.Errorf("--auth none on the non-loopback address %s needs --insecure-open", f.addr)
		}
	case "jwt":
	default:
		return nil, fmt.Errorf("--auth must be none or jwt, not %q", f.auth)
	}
	return f, nil
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

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(f.logFormat, f.logLevel, stderr)
	if err != nil {
		return err
	}
	var certs *certReloader
	if f.tlsCert != "" {
		if certs, err = newCertReloader(f.tlsCert, f.tlsKey, log); err != nil {
			return err
		}
	}
	var auth *authenticator
	if f.auth == "jwt" {
		if auth, err = newAuthenticator(f.jwtSecretFile, f.jwtPublicKey, f.jwtJWKS, f.jwtLeeway); err != nil {
			return err
		}
	}
	var hooks webhook.Config
	if f.webhooks != "" {
		if hooks, err = webhook.Load(f.webhooks); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(f.data, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	dbPath := filepath.Join(f.data, "weft.db")
	metrics := newMetrics()
	store, err := storage.Open(dbPath, &storage.Options{Logger: log, OnCommit: metrics.onCommit})
	if err != nil {
		return fmt.Errorf("opening %s (is another weft using this data directory?): %w", dbPath, err)
	}
	defer store.Close() // bbolt closes last

	pool, err := crdt.NewPool(&crdt.PoolOptions{
		Workers: f.workers,
		Logger:  log,
		Local:   crdt.LocalOptions{MaxMessage: int(f.maxMessage)},
		OnCrash: func(int, string) { metrics.workerRestarts.Inc() },
	})
	if err != nil {
		return err
	}
	defer pool.Shutdown()

	var cl *cluster
	if f.natsURLs != "" {
		if cl, err = joinCluster(f, store, log); err != nil {
			return err
		}
		defer cl.nc.Close() // drained below on an orderly shutdown
	}
	cfg := session.Config{
		Store:       store,
		Engine:      pool,
		Logger:      log,
		JoinTimeout: f.joinTimeout,
		IdleUnload:  f.idleUnload,
		Metrics:     metrics,

		MemoryBudget: f.memoryBudget,

		MaxDocsPerConn: f.maxDocsPerConn,
		EphemeralRate:  f.ephemeralRate,
	}
	if cl != nil {
		cfg.Relay = cl.relay
	}
	mgr, err := session.NewManager(cfg)
	if err != nil {
		if cl != nil {
			cl.relay.Close()
		}
		return err
	}
	metrics.watch(store, mgr)
	apiExtra := map[string]http.Handler{"/api/backup": backupHandler(store)}
	var dispatcher *webhook.Dispatcher
	if len(hooks.Hooks) > 0 {
		dispatcher = webhook.New(hooks, log)
		unsubscribe := mgr.Subscribe("", dispatcher.Handle)
		defer func() {
			// After the sessions: their last changes are delivered too.
			unsubscribe()
			dctx, cancel := context.WithTimeout(context.Background(), f.shutdownGrace)
			defer cancel()
			if err := dispatcher.Close(dctx); err != nil {
				log.Warn("webhook deliveries still pending at exit", "err", err)
			}
		}()
		log.Info("webhooks configured", "hooks", len(hooks.Hooks))
	}
	apiExtra["/api/webhooks/deliveries"] = deliveriesHandler(dispatcher)
	var origins []string
	for _, o := range strings.Split(f.allowedOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	mel := newMelody(wsConfig{
		MaxMessage:     f.maxMessage,
		SendQueue:      f.sendQueue,
		PingPeriod:     f.pingPeriod,
		PongWait:       2 * f.pingPeriod,
		AllowedOrigins: origins,
		Logger:         log,
		MsgRate:        f.connMsgRate,
		MsgBurst:       f.connMsgBurst,
		BytesRate:      f.connBytesRate,
		Metrics:        metrics,
	}, mgr)

	if f.pprofAddr != "" {
		stopPprof, err := startPprof(f.pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	ready := &readiness{}
	done := make(chan struct{})
	srv := &http.Server{
		Handler: f.proxies.wrap(newHandler(handlerDeps{mel: mel, mgr: mgr, store: store, ready: ready, metrics: metrics, log: log, done: done, apiExtra: apiExtra, apiLimit: newAPILimiter(f.apiRate, f.apiBurst),
			auth: auth, checkOrigin: originChecker(origins), frameAncestors: f.frameAncestors,
			admission: newAdmission(f.admissionRate, f.admissionBurst, f.maxConns, f.maxConnsPerIP)})),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(done) }) // ends event streams and long polls
	url := "http://" + ln.Addr().String()
	if certs != nil {
		srv.TLSConfig = certs.tlsConfig()
		url = "https://" + ln.Addr().String()
		hctx, stopHUP := context.WithCancel(ctx)
		defer stopHUP()
		certs.watchSIGHUP(hctx)
	}
	fmt.Fprintf(stdout, "weft: listening on %s\n", url)
	log.Info("weft started", "url", url, "data", dbPath, "storageId", store.StorageID(), "workers", f.workers, "version", version, "auth", f.auth, "memoryBudget", f.memoryBudget)
	if auth == nil {
		log.Warn("authentication is off: anyone who can reach this address may read and write every document", "addr", f.addr)
	}
	if cl != nil {
		log.Info("cluster node", "node", cl.relay.ID(), "nats", f.natsURLs, "connected", cl.nc.IsConnected())
	}

	errc := make(chan error, 1)
	go func() {
		if certs != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	ready.set(true)

	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// Orderly shutdown: stop accepting, close peers with "reconnect",
	// flush every document, stop workers, close bbolt last (deferred).
	log.Info("shutting down")
	ready.set(false)
	sctx, cancel := context.WithTimeout(context.Background(), f.shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("http shutdown", "err", err)
	}
	if err := mgr.Shutdown(sctx); err != nil {
		log.Error("session shutdown incomplete", "err", err)
	}
	mel.Close()
	if cl != nil {
		cl.shutdown(sctx, log)
	}
	log.Info("stopped")
	return nil
}

// nodeIDKey is where a node keeps the id it made up for itself.
const nodeIDKey = "node-id"

// cluster is this node's link to the others: a NATS connection and the
// relay over it.
type cluster struct {
	nc     *nats.Conn
	relay  *natsrelay.Relay
	closed chan struct{}
}

// nodeID returns the --node-id flag, or the id kept in the store, made up
// (host name and random bytes) the first time.
func nodeID(flagID string, store *storage.Store) (string, error) {
	if flagID != "" {
		return flagID, nil
	}
	b, err := store.NodeMeta(nodeIDKey)
	if err == nil && len(b) > 0 {
		return string(b), nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return "", fmt.Errorf("reading the node id: %w", err)
	}
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, host)
	if host == "" {
		host = "weft"
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	id := host + "-" + hex.EncodeToString(rnd[:])
	if err := store.SetNodeMeta(nodeIDKey, []byte(id)); err != nil {
		return "", fmt.Errorf("storing the node id: %w", err)
	}
	return id, nil
}

// joinCluster connects to NATS (retrying for ever, in the background, if
// no server answers yet: the node serves its own clients meanwhile) and
// starts the relay.
func joinCluster(f *serveFlags, store *storage.Store, log *slog.Logger) (*cluster, error) {
	id, err := nodeID(f.nodeID, store)
	if err != nil {
		return nil, err
	}
	cl := &cluster{closed: make(chan struct{})}
	var relay atomic.Pointer[natsrelay.Relay]
	opts := []nats.Option{
		nats.Name("weft " + id),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(c *nats.Conn) {
			// The first connection came up late: catch up like after a
			// reconnect.
			if r := relay.Load(); r != nil {
				r.Reconnected()
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected; serving local clients, reconciling when it returns", "err", err)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(cl.closed) }),
	}
	if f.natsCreds != "" {
		opts = append(opts, nats.UserCredentials(f.natsCreds))
	}
	if f.natsTLSCA != "" {
		opts = append(opts, nats.RootCAs(f.natsTLSCA))
	}
	nc, err := nats.Connect(f.natsURLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", f.natsURLs, err)
	}
	r, err := natsrelay.New(nc, id, &natsrelay.Options{Logger: log})
	if err != nil {
		nc.Close()
		return nil, err
	}
	relay.Store(r)
	cl.nc, cl.relay = nc, r
	return cl, nil
}

// shutdown closes the relay and drains the connection (after the session
// manager, before bbolt).
func (cl *cluster) shutdown(ctx context.Context, log *slog.Logger) {
	cl.relay.Close()
	if err := cl.nc.Drain(); err != nil {
		cl.nc.Close()
		return
	}
	select {
	case <-cl.closed:
	case <-ctx.Done():
		log.Warn("nats drain incomplete")
		cl.nc.Close()
	}
}
