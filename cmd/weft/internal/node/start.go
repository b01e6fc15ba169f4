package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/weft-dev/weft/cmd/weft/internal/api"
	"github.com/weft-dev/weft/cmd/weft/internal/backup"
	"github.com/weft-dev/weft/cmd/weft/internal/cluster"
	"github.com/weft-dev/weft/cmd/weft/internal/limits"
	"github.com/weft-dev/weft/cmd/weft/internal/metrics"
	"github.com/weft-dev/weft/cmd/weft/internal/profiler"
	"github.com/weft-dev/weft/cmd/weft/internal/recovery"
	"github.com/weft-dev/weft/cmd/weft/internal/wstransport"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/webhook"
	"github.com/weft-dev/weft/storage"
)

// parts are what serves requests, built once the session manager exists.
type parts struct {
	ws          *wstransport.Transport
	unsubscribe func()   // the webhook dispatcher's subscription; nil without webhooks
	stopFeeds   []func() // in a cluster, the hooks' JetStream feeds
}

// start builds the node in dependency order. Every step that can fail
// comes before the session manager, so that a failed start has no
// sessions to shut down: Run then releases what was acquired.
func (n *Node) start(ctx context.Context) error {
	n.metrics = metrics.New()
	if err := n.openStore(); err != nil {
		return err
	}
	pool, err := crdt.NewPool(&crdt.PoolOptions{
		Workers: n.cfg.Workers,
		Logger:  n.log,
		Local:   crdt.LocalOptions{MaxMessage: int(n.cfg.MaxMessage)},
		OnCrash: func(int, string) { n.metrics.WorkerRestarted() },
	})
	if err != nil {
		return fmt.Errorf("starting the engine workers: %w", err)
	}
	n.pool = pool
	if n.cfg.Cluster != nil {
		o := *n.cfg.Cluster
		o.Logger = n.log
		o.OnPanic = func() { n.metrics.Panicked("relay") }
		if n.cluster, err = cluster.Join(ctx, o, n.store); err != nil {
			return err
		}
		n.docs = n.cluster.Store()
		if err := cluster.Upload(ctx, n.store, n.cluster.Store(), n.log); err != nil {
			return err
		}
	}
	if n.cfg.PprofAddr != "" {
		if n.stopPprof, err = profiler.Start(n.cfg.PprofAddr, n.log); err != nil {
			return err
		}
	}
	if n.ln, err = net.Listen("tcp", n.cfg.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", n.cfg.Addr, err)
	}
	if err := n.startSessions(); err != nil {
		return err
	}
	n.parts = &parts{}
	if err := n.startWebhooks(); err != nil {
		return err
	}
	n.srv = n.httpServer()
	return nil
}

// startSessions creates the session manager over the store, the engine
// and the relay.
func (n *Node) startSessions() error {
	cfg := session.Config{
		Store:       n.docs,
		Engine:      n.pool,
		Logger:      n.log,
		JoinTimeout: n.cfg.JoinTimeout,
		IdleUnload:  n.cfg.IdleUnload,
		Metrics:     n.metrics,

		MemoryBudget: n.cfg.MemoryBudget,

		MaxDocsPerConn: n.cfg.MaxDocsPerConn,
		EphemeralRate:  n.cfg.EphemeralRate,
	}
	if n.cluster != nil {
		cfg.Relay = n.cluster.Relay()
	}
	mgr, err := session.NewManager(cfg)
	if err != nil {
		return fmt.Errorf("starting the session manager: %w", err)
	}
	n.mgr = mgr
	n.metrics.Watch(n.store, mgr)
	return nil
}

// startWebhooks subscribes the dispatcher to every document's events. In
// a cluster, changes come from one JetStream feed per hook instead, shared
// by every node, so each is delivered once per hook even if a node dies;
// join and leave stay this node's.
func (n *Node) startWebhooks() error {
	if len(n.cfg.Webhooks.Hooks) == 0 {
		return nil
	}
	d := webhook.New(n.cfg.Webhooks, n.log)
	n.dispatcher = d
	if n.cluster == nil {
		n.parts.unsubscribe = n.mgr.Subscribe("", d.Handle)
		n.log.Info("webhooks configured", "hooks", len(n.cfg.Webhooks.Hooks))
		return nil
	}
	n.parts.unsubscribe = n.mgr.Subscribe("", func(ev session.Event) {
		if ev.Type != session.EventChange {
			d.Handle(ev)
		}
	})
	for i, h := range n.cfg.Webhooks.Hooks {
		if len(h.Events) > 0 && !slices.Contains(h.Events, session.EventChange) {
			continue
		}
		stop, err := n.cluster.Store().Feed(h.URL, func(doc string, l storage.Logged, ack func()) {
			if l.Chunk == nil { // markers: nothing to deliver
				ack()
				return
			}
			metas, err := crdt.ParseChanges(l.Chunk)
			if err != nil {
				n.log.Warn("webhook feed: unreadable change metadata", "doc", doc, "seq", l.Seq, "err", err)
			}
			d.HandleFeed(i, doc, l.Seq, metas, ack)
		})
		if err != nil {
			return fmt.Errorf("webhook feed for hook %d: %w", i+1, err)
		}
		n.parts.stopFeeds = append(n.parts.stopFeeds, stop)
	}
	n.log.Info("webhooks configured (changes from JetStream feeds)", "hooks", len(n.cfg.Webhooks.Hooks))
	return nil
}

// httpServer builds the handler (WebSockets, API, health, metrics,
// editor) behind panic recovery and client resolution.
func (n *Node) httpServer() *http.Server {
	n.parts.ws = wstransport.New(wstransport.Config{
		MaxMessage:     n.cfg.MaxMessage,
		SendQueue:      n.cfg.SendQueue,
		PingPeriod:     n.cfg.PingPeriod,
		PongWait:       2 * n.cfg.PingPeriod,
		AllowedOrigins: n.cfg.AllowedOrigins,
		Logger:         n.log,
		MsgRate:        n.cfg.ConnMsgRate,
		MsgBurst:       n.cfg.ConnMsgBurst,
		BytesRate:      n.cfg.ConnBytesRate,
		Metrics:        n.metrics,
	}, n.mgr)
	done := make(chan struct{})
	checkOrigin := wstransport.OriginChecker(n.cfg.AllowedOrigins)
	var docLog api.Log // a cluster's streams follow JetStream
	if n.cluster != nil {
		docLog = n.cluster.Store()
	}
	apiHandler := api.New(api.Config{
		Manager: n.mgr, Logger: n.log, Done: done,
		Extra: map[string]http.Handler{
			"/api/backup":              n.backupHandler(),
			"/api/webhooks/deliveries": api.DeliveriesHandler(n.dispatcher),
		},
		Auth: n.cfg.Auth, Limiter: limits.NewAPILimiter(n.cfg.APIRate, n.cfg.APIBurst),
		CheckOrigin: checkOrigin, Metrics: n.metrics, Log: docLog,
	}).Handler()
	h := newHandler(handlerDeps{
		ws: n.parts.ws, mgr: n.mgr, store: n.docs, ready: &n.ready, metrics: n.metrics, log: n.log,
		version: n.cfg.Version, frameAncestors: n.cfg.FrameAncestors, auth: n.cfg.Auth, checkOrigin: checkOrigin,
		admission: limits.NewAdmission(n.cfg.AdmissionRate, n.cfg.AdmissionBurst, n.cfg.MaxConns, n.cfg.MaxConnsPerIP),
		api:       apiHandler,
	})
	srv := &http.Server{
		Handler:           recovery.HTTP(n.cfg.Proxies.Wrap(h), n.log, func() { n.metrics.Panicked("http") }),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { close(done) }) // ends event streams and long polls
	if n.cfg.TLS != nil {
		srv.TLSConfig = n.cfg.TLS.TLSConfig()
	}
	return srv
}

// backupHandler serves /api/backup: the bbolt file, or in a cluster a
// bbolt copy of what JetStream holds.
func (n *Node) backupHandler() http.Handler {
	if n.cluster != nil {
		return backup.SharedHandler(n.docs, n.cfg.Data)
	}
	return backup.Handler(n.store)
}
