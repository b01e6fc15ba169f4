package main

import (
	"context"
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
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
)

type serveFlags struct {
	addr           string
	data           string
	logFormat      string
	logLevel       string
	joinTimeout    time.Duration
	idleUnload     time.Duration
	workers        int
	maxMessage     int64
	sendQueue      int
	pingPeriod     time.Duration
	allowedOrigins string
	shutdownGrace  time.Duration
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
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "Automerge worker processes")
	fs.Int64Var(&f.maxMessage, "max-message", 100<<20, "largest WebSocket message accepted, in bytes")
	fs.IntVar(&f.sendQueue, "send-queue", 1024, "frames queued per connection before a slow reader is disconnected")
	fs.DurationVar(&f.pingPeriod, "ping-period", 20*time.Second, "WebSocket ping interval; a peer silent for twice as long is dropped")
	fs.StringVar(&f.allowedOrigins, "allowed-origins", "", "comma-separated extra origins (host:port) allowed to open WebSockets; * allows any")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 20*time.Second, "how long a graceful shutdown may take")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
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
	if err := os.MkdirAll(f.data, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	dbPath := filepath.Join(f.data, "weft.db")
	store, err := storage.Open(dbPath, &storage.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("opening %s (is another weft using this data directory?): %w", dbPath, err)
	}
	defer store.Close() // bbolt closes last

	metrics := newMetrics(store)
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

	mgr, err := session.NewManager(session.Config{
		Store:       store,
		Engine:      pool,
		Logger:      log,
		JoinTimeout: f.joinTimeout,
		IdleUnload:  f.idleUnload,
		Metrics:     metrics,
	})
	if err != nil {
		return err
	}
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
	}, mgr)

	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.addr, err)
	}
	ready := &readiness{}
	srv := &http.Server{
		Handler:           newHandler(handlerDeps{mel: mel, mgr: mgr, store: store, ready: ready, metrics: metrics, log: log}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(stdout, "weft: listening on %s\n", url)
	log.Info("weft started", "url", url, "data", dbPath, "storageId", store.StorageID(), "workers", f.workers, "version", version)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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
	log.Info("stopped")
	return nil
}
