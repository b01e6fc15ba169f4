package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/clientip"
	"github.com/weft-dev/weft/cmd/weft/internal/cluster"
	"github.com/weft-dev/weft/cmd/weft/internal/metrics"
	"github.com/weft-dev/weft/cmd/weft/internal/tlsreload"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage"
)

// Config is everything a node is built from; package main fills it from
// the flags. Zero values are not defaults: main sets every field.
type Config struct {
	Addr    string // listen address
	Data    string // data directory (holds weft.db)
	Logger  *slog.Logger
	Stdout  io.Writer // gets "weft: listening on <url>" once listening
	Version string

	JoinTimeout    time.Duration
	IdleUnload     time.Duration
	MemoryBudget   int64
	Workers        int
	MaxMessage     int64
	SendQueue      int
	PingPeriod     time.Duration
	AllowedOrigins []string
	Webhooks       webhook.Config
	PprofAddr      string        // "": no profiler
	ShutdownGrace  time.Duration // bounds Run's own shutdown

	Cluster *cluster.Options // nil: a single node

	AuthMode       string              // "none" or "jwt", for the log
	Auth           *auth.Authenticator // nil: the open mode
	FrameAncestors string

	MaxConns       int
	MaxConnsPerIP  int
	AdmissionRate  float64
	AdmissionBurst int
	APIRate        float64
	APIBurst       int
	ConnMsgRate    float64
	ConnMsgBurst   int
	ConnBytesRate  int64
	MaxDocsPerConn int
	EphemeralRate  float64

	TLS     *tlsreload.Reloader // nil: plain http
	Proxies clientip.TrustedProxies
}

// Node is one running weft server: storage, the engine's worker pool, the
// session manager, the optional cluster link and webhooks, and the HTTP
// server in front of them.
type Node struct {
	cfg Config
	log *slog.Logger

	// Set by start, before Run serves; read-only afterwards (but for
	// parts.unsubscribe, which Shutdown clears once it has called it).
	metrics    *metrics.Metrics
	store      *storage.Store // the local bbolt file
	docs       session.Store  // where documents live: store, or JetStream in a cluster
	pool       *crdt.Pool
	cluster    *cluster.Cluster
	mgr        *session.Manager
	dispatcher *webhook.Dispatcher
	parts      *parts
	srv        *http.Server
	ln         net.Listener
	stopPprof  func() error

	ready    atomic.Bool
	shutOnce sync.Once
	shutErr  error
}

// New returns a node that Run starts.
func New(cfg Config) *Node {
	return &Node{cfg: cfg, log: cfg.Logger}
}

// Run builds the node, listens, and serves until ctx ends or the HTTP
// server fails; then it shuts down, within Config.ShutdownGrace, and
// returns. Requests are served with contexts derived from ctx.
func (n *Node) Run(ctx context.Context) error {
	if err := n.start(ctx); err != nil {
		if n.cluster != nil {
			n.cluster.Abort()
		}
		n.closeParts()
		return err
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if n.cfg.TLS != nil {
		n.cfg.TLS.WatchSIGHUP(ctx)
	}
	n.srv.BaseContext = func(net.Listener) context.Context { return ctx }
	// Ready before the address is announced (whoever reads it may ask
	// /readyz at once; the listener queues that until Serve runs) and
	// before Shutdown can run, which clears it.
	n.ready.Store(true)
	n.announce()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer stop() // a server closed by Shutdown ends Run too
		return n.serve()
	})
	g.Go(func() error {
		<-gctx.Done()
		// Shutdown outlives ctx (it is what ended), but keeps its values.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.cfg.ShutdownGrace)
		defer cancel()
		return n.Shutdown(sctx)
	})
	return g.Wait()
}

// Ready reports whether the node is serving (what /readyz answers).
func (n *Node) Ready() bool { return n.ready.Load() }

// serve runs the HTTP server until it is shut down (nil) or fails.
func (n *Node) serve() error {
	var err error
	if n.cfg.TLS != nil {
		err = n.srv.ServeTLS(n.ln, "", "")
	} else {
		err = n.srv.Serve(n.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("http server: %w", err)
}

// Shutdown stops the node in order, each step bounded by ctx: stop
// accepting HTTP, close peers with "reconnect" and flush every document,
// close the WebSockets, deliver the last webhooks (in a cluster, give
// the undelivered back to another node), leave the cluster (drain NATS),
// stop the workers, close bbolt last. Only the first call does
// the work; later ones return its result. Call it once Run is serving
// (Ready); Run calls it itself when its context ends.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutOnce.Do(func() {
		n.log.Info("shutting down")
		n.ready.Store(false)
		if err := n.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			n.log.Warn("http shutdown", "err", err)
		}
		if err := n.mgr.Shutdown(ctx); err != nil {
			n.log.Error("session shutdown incomplete", "err", err)
		}
		n.parts.ws.Close(ctx)
		if n.dispatcher != nil {
			// After the sessions: their last changes are delivered too. Before
			// leaving the cluster: the feeds ack what was delivered and give
			// the rest back to another node.
			n.parts.unsubscribe()
			n.parts.unsubscribe = nil
			if err := n.dispatcher.Close(n.webhookCtx(ctx)); err != nil {
				n.log.Warn("webhook deliveries still pending at exit", "err", err)
			}
			n.stopFeeds()
		}
		if n.cluster != nil {
			n.cluster.Shutdown(ctx, n.log)
		}
		n.shutErr = n.closeParts()
		n.log.Info("stopped")
	})
	return n.shutErr
}

// closeParts releases what start acquired, the store last; parts never
// built are skipped.
func (n *Node) closeParts() error {
	if n.parts != nil && n.parts.unsubscribe != nil {
		n.parts.unsubscribe()
	}
	n.stopFeeds()
	if n.stopPprof != nil {
		n.stopPprof()
	}
	if n.ln != nil {
		n.ln.Close() // already closed after a served Shutdown: harmless
	}
	if n.pool != nil {
		n.pool.Shutdown()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			return fmt.Errorf("closing the store: %w", err)
		}
	}
	return nil
}

// webhookCtx bounds the last deliveries: in a cluster by half of what is
// left, so that the node still leaves it in time (another node delivers
// what this one could not).
func (n *Node) webhookCtx(ctx context.Context) context.Context {
	dl, ok := ctx.Deadline()
	if n.cluster == nil || !ok {
		return ctx
	}
	wctx, cancel := context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
	context.AfterFunc(wctx, cancel) // released with ctx or at its own deadline
	return wctx
}

// stopFeeds stops the webhook feeds (unacknowledged changes go to another
// node).
func (n *Node) stopFeeds() {
	if n.parts == nil {
		return
	}
	for _, stop := range n.parts.stopFeeds {
		stop()
	}
	n.parts.stopFeeds = nil
}

// announce prints the URL (the line tests and scripts wait for) and logs
// how the node runs.
func (n *Node) announce() {
	scheme := "http://"
	if n.cfg.TLS != nil {
		scheme = "https://"
	}
	url := scheme + n.ln.Addr().String()
	fmt.Fprintf(n.cfg.Stdout, "weft: listening on %s\n", url)
	n.log.Info("weft started", "url", url, "data", n.store.Path(), "storageId", n.docs.StorageID(), "workers", n.cfg.Workers,
		"version", n.cfg.Version, "auth", n.cfg.AuthMode, "memoryBudget", n.cfg.MemoryBudget)
	if n.cfg.Auth == nil {
		n.log.Warn("authentication is off: anyone who can reach this address may read and write every document", "addr", n.cfg.Addr)
	}
	if n.cluster != nil {
		n.log.Info("cluster node", "node", n.cluster.ID(), "nats", n.cfg.Cluster.URLs, "connected", n.cluster.Connected())
	}
}

// openStore opens bbolt in the data directory.
func (n *Node) openStore() error {
	if err := os.MkdirAll(n.cfg.Data, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	dbPath := filepath.Join(n.cfg.Data, "weft.db")
	store, err := storage.Open(dbPath, &storage.Options{Logger: n.log, OnCommit: n.metrics.OnCommit})
	if err != nil {
		return fmt.Errorf("opening %s (is another weft using this data directory?): %w", dbPath, err)
	}
	n.store, n.docs = store, store
	return nil
}
