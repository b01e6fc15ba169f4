package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weft-dev/weft/session/natsrelay"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/jsstore"
)

// nodeIDKey is where a node keeps the id it made up for itself.
const nodeIDKey = "node-id"

// Options say how to reach the other nodes.
type Options struct {
	URLs   string // comma-separated NATS server URLs
	Creds  string // NATS user credentials file; "" for none
	TLSCA  string // CA file for tls:// URLs; "" for the system's
	NodeID string // this node's id; "" makes one up once and keeps it in the store
	Logger *slog.Logger
	// OnPanic counts a panic recovered handling another node's message.
	OnPanic func()
	// Replicas is how many JetStream servers hold each document (0: 3, or
	// the JetStream cluster's size if smaller).
	Replicas int
	// ConnectWait bounds the wait for the first NATS connection at start
	// (0: 30 s): without it a cluster node has no store.
	ConnectWait time.Duration
}

// Cluster is this node's link to the others: a NATS connection, the
// shared store in JetStream and the ephemeral relay over it.
type Cluster struct {
	nc     *nats.Conn
	relay  *natsrelay.Relay
	store  *jsstore.Store
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

// Join connects to NATS (waiting up to Options.ConnectWait for a first
// server; later outages are reconnected in the background while the node
// serves its own clients), opens the documents' store in JetStream and
// starts the relay (ephemeral frames). store is the node's local bbolt
// file: it keeps the node id.
func Join(ctx context.Context, o Options, store *storage.Store) (*Cluster, error) {
	log := o.Logger
	id, err := nodeID(o.NodeID, store)
	if err != nil {
		return nil, err
	}
	cl := &Cluster{closed: make(chan struct{})}
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
	if o.Creds != "" {
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	nc, err := nats.Connect(o.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats %s: %w", o.URLs, err)
	}
	cl.nc = nc
	if err := cl.openStore(ctx, o); err != nil {
		nc.Close()
		return nil, err
	}
	r, err := natsrelay.New(nc, id, &natsrelay.Options{Logger: log, OnPanic: o.OnPanic})
	if err != nil {
		cl.store.Close()
		nc.Close()
		return nil, fmt.Errorf("starting the relay: %w", err)
	}
	relay.Store(r)
	cl.relay = r
	return cl, nil
}

// Relay is what the session manager sends ephemeral frames through.
func (cl *Cluster) Relay() *natsrelay.Relay { return cl.relay }

// ID is this node's id in the cluster.
func (cl *Cluster) ID() string { return cl.relay.ID() }

// Connected reports whether NATS is connected now.
func (cl *Cluster) Connected() bool { return cl.nc.IsConnected() }

// Abort closes the relay and the connection at once (a node that failed to
// start).
func (cl *Cluster) Abort() {
	cl.relay.Close()
	cl.store.Close()
	cl.nc.Close()
}

// Shutdown closes the relay and drains the connection (after the session
// manager, before bbolt), until ctx ends.
func (cl *Cluster) Shutdown(ctx context.Context, log *slog.Logger) {
	cl.relay.Close()
	if err := cl.store.Close(); err != nil {
		log.Warn("closing the JetStream store", "err", err)
	}
	defer cl.nc.Close() // a no-op once drained
	if err := cl.nc.Drain(); err != nil {
		return
	}
	select {
	case <-cl.closed:
	case <-ctx.Done():
		log.Warn("nats drain incomplete")
	}
}
