package session

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

// Conn is the transport under one client connection (melody in cmd/weft,
// fakes in tests). Send and Close may be called from any goroutine.
type Conn interface {
	// Send queues one binary frame without blocking. An error means the
	// frame was not queued (the peer is gone or too slow); the session
	// then closes the connection: a dropped sync message would stall sync.
	Send(frame []byte) error
	// Close sends a close frame with code and reason and closes.
	Close(code int, reason string)
}

// Config configures a Manager. Zero fields take the documented defaults.
type Config struct {
	Store  Store        // required
	Engine crdt.Engine  // required
	Logger *slog.Logger // nil: discard
	// PeerID is the server's peer id; "" means "weft-" + the storage id.
	PeerID string
	// JoinTimeout closes connections that send no join; zero means 30s.
	JoinTimeout time.Duration
	// IdleUnload unloads a document that has had no peer for this long;
	// zero means 30s.
	IdleUnload time.Duration
	// StrikeLimit is how many engine crashes a peer may cause within
	// StrikeWindow before it is refused for BanDuration. Zero: 3, 10m, 10m.
	StrikeLimit  int
	StrikeWindow time.Duration
	BanDuration  time.Duration
	// MaxDocsPerConn is how many documents one connection may open; more
	// closes it with CloseTooManyDocs. Zero means 1000.
	MaxDocsPerConn int
	// EphemeralRate is how many ephemeral messages per second one
	// connection may send (bursts of EphemeralBurst); the excess is
	// dropped and counted. Zero means 100/s, bursts of 200; negative means
	// no limit.
	EphemeralRate  float64
	EphemeralBurst int
	// MemoryBudget bounds the engine memory of open documents, in bytes:
	// over it, the least recently used documents with no peer and nothing
	// queued are unloaded (as IdleUnload does, only sooner). Documents
	// with peers are never unloaded, so the total can stay over. Zero
	// means no budget.
	MemoryBudget int64
	// Metrics observes the session layer; nil means none.
	Metrics Metrics
	// Relay carries ephemeral frames to and from the other nodes of a
	// cluster; nil means none. It needs a Store that is a SharedLog: the
	// documents cross through the store. NewManager registers for its
	// reconnects; the caller closes it after Shutdown.
	Relay Relay
}

// Metrics receives events from the session layer. Implementations must be
// safe for concurrent use and cheap.
type Metrics interface {
	MessageIn(typ string, bytes int)
	MessageOut(typ string, bytes int)
	Applied(d time.Duration, changes int)
	Persisted(d time.Duration)
	DocOpened(load time.Duration)
	DocClosed()
	EngineCrash()
	Disconnect(code int)
	// Limited counts a message or connection refused by a limit (reason
	// "ephemeral_rate", "docs_per_conn", "read_only", "access").
	Limited(reason string)
	// Fanout observes the time from a message's arrival to the frames it
	// caused being queued for every peer (after their fsync).
	Fanout(d time.Duration)
	// Evicted counts a document unloaded while the server runs (reason
	// "idle": no peer for IdleUnload; "budget": over MemoryBudget).
	Evicted(reason string)
	// Panicked counts a panic recovered on a goroutine that handles
	// client input (where: "document", "client", "relay").
	Panicked(where string)
	// Damaged counts a document found damaged (what: "load", a stored
	// chunk does not load; "snapshot", its changes cannot be compacted).
	Damaged(what string)
}

// Manager owns the open documents and the connected clients.
type Manager struct {
	// root is the context of every engine and storage call; Shutdown ends
	// it when its own context ends first, so that it bounds them.
	root    context.Context
	stopAll context.CancelFunc
	cfg     Config
	log     *slog.Logger
	peerID  string
	// shared is cfg.Store's shared log, when the nodes share the store
	// (sharedlog.go).
	shared SharedLog

	mu      sync.Mutex // guards the fields below
	docs    map[string]*document
	clients map[string]*Client // by peer id: the newest connection wins
	all     map[*Client]struct{}
	strikes map[string][]time.Time
	banned  map[string]time.Time
	damaged map[string]string // why a document is damaged (damage.go)
	closing bool
	// memTotal sums the documents' mem (see memAcct); evictable is set
	// when a document may have become evictable since the last fruitless
	// search, so that a node over budget with only busy documents does
	// not search on every batch.
	memTotal  int64
	evictable bool
	gone      map[string]*document // unloaded and still closing, by id

	events events // change feed subscribers; see events.go

	hmu       sync.Mutex           // guards httpPeers
	httpPeers map[string]*httpPeer // HTTP sync sessions by peer id; see httpsync.go

	wg     sync.WaitGroup // document goroutines
	connID atomic.Uint64
}

// NewManager returns a Manager; Shutdown stops it.
func NewManager(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Engine == nil {
		return nil, errors.New("session: Config needs Store and Engine")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JoinTimeout == 0 {
		cfg.JoinTimeout = 30 * time.Second
	}
	if cfg.IdleUnload == 0 {
		cfg.IdleUnload = 30 * time.Second
	}
	if cfg.StrikeLimit == 0 {
		cfg.StrikeLimit = 3
	}
	if cfg.StrikeWindow == 0 {
		cfg.StrikeWindow = 10 * time.Minute
	}
	if cfg.BanDuration == 0 {
		cfg.BanDuration = 10 * time.Minute
	}
	if cfg.Metrics == nil {
		cfg.Metrics = nopMetrics{}
	}
	if cfg.MaxDocsPerConn == 0 {
		cfg.MaxDocsPerConn = 1000
	}
	if cfg.EphemeralRate == 0 {
		cfg.EphemeralRate = 100
	}
	if cfg.EphemeralBurst == 0 {
		cfg.EphemeralBurst = 2 * int(max(cfg.EphemeralRate, 1))
	}
	peerID := cfg.PeerID
	if peerID == "" {
		peerID = "weft-" + cfg.Store.StorageID()
	}
	root, cancel := context.WithCancel(context.Background())
	m := &Manager{
		root:    root,
		stopAll: cancel,
		cfg:     cfg,
		log:     cfg.Logger,
		peerID:  peerID,
		docs:    map[string]*document{},
		clients: map[string]*Client{},
		all:     map[*Client]struct{}{},
		strikes: map[string][]time.Time{},
		banned:  map[string]time.Time{},
		gone:    map[string]*document{},
		damaged: map[string]string{},
	}
	if err := m.noteEarlierDamage(); err != nil {
		cancel()
		return nil, err
	}
	m.shared, _ = cfg.Store.(SharedLog)
	if cfg.Relay != nil {
		if m.shared == nil {
			// Nothing else would carry one node's changes to another.
			cancel()
			return nil, errors.New("session: a Config with a Relay needs a Store that is a SharedLog")
		}
		cfg.Relay.OnReconnect(m.reconnected)
	}
	return m, nil
}

// stored returns what the store holds of doc (snapshots, then change
// chunks), for Binary and Upload; nil when nothing.
func (m *Manager) stored(doc string) ([]byte, error) {
	if !crdt.ValidDocumentID(doc) {
		return nil, nil
	}
	chunks, err := m.cfg.Store.Load(doc)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	data := make([]byte, 0, chunks.Bytes)
	for _, c := range chunks.Snapshots {
		data = append(data, c...)
	}
	for _, c := range chunks.Incrementals {
		data = append(data, c...)
	}
	return data, nil
}

// reconnected makes every open document catch up from the store and
// resync the peers whose changes it refused while it was unreachable,
// without waiting for their next retry.
func (m *Manager) reconnected() {
	m.mu.Lock()
	ids := make([]string, 0, len(m.docs))
	for id := range m.docs {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	m.log.Info("relay reconnected; catching up open documents", "docs", len(ids))
	for _, id := range ids {
		m.post(id, event{kind: evCatchUp}, false)
	}
}

// PeerID is the id the server announces in peer messages.
func (m *Manager) PeerID() string { return m.peerID }

// Connect registers a new connection. remote names it in logs and strikes
// (an IP address); auth is what the transport verified about it (nil: open,
// write access to every document). Frames from the connection go to
// Client.Receive, and Client.Closed must be called once the transport is
// gone.
func (m *Manager) Connect(c Conn, remote string, auth *Auth) (*Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing {
		c.Close(ErrCloseShutdown.Code, ErrCloseShutdown.Reason)
		return nil, ErrShutdown
	}
	// The ephemeral limiter and maps are made on first use: most of an
	// idle crowd never needs them.
	cl := &Client{m: m, conn: c, remote: remote, auth: auth, id: m.connID.Add(1)}
	cl.log = m.log.With("conn", cl.id, "remote", remote)
	if u := cl.user(); u != "" {
		cl.log = cl.log.With("user", u)
	}
	m.all[cl] = struct{}{}
	cl.joinTimer = time.AfterFunc(m.cfg.JoinTimeout, func() {
		if !cl.joined.Load() {
			cl.close(ErrCloseJoinTimeout)
		}
	})
	return cl, nil
}

// post hands an event to a document's goroutine, starting it if create is
// set. It reports whether the event was delivered.
func (m *Manager) post(id string, ev event, create bool) bool {
	ev.at = time.Now()
	m.mu.Lock()
	d := m.docs[id]
	if d == nil {
		if !create || m.closing {
			m.mu.Unlock()
			return false
		}
		d = newDocument(m, id)
		if g := m.gone[id]; g != nil {
			d.prev = g
			delete(m.gone, id)
		}
		m.docs[id] = d
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			d.run()
		}()
	}
	d.posted.Add(1)
	m.mu.Unlock()
	select {
	case d.inbox <- &ev:
		return true
	case <-d.done:
		return false
	}
}

// unload removes d if nothing was posted to it since it looked; called by
// the document's own goroutine.
func (m *Manager) unload(d *document) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if d.posted.Load() != 0 {
		return false
	}
	if m.docs[d.id] == d {
		delete(m.docs, d.id)
		m.memTotal -= d.acct.mem
		d.acct.mem = 0
		m.gone[d.id] = d
	}
	return true
}

// closed forgets d once its goroutine has finished closing it.
func (m *Manager) closed(d *document) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gone[d.id] == d {
		delete(m.gone, d.id)
	}
}

// strike records an engine crash caused by key (a peer id or an address)
// and reports whether key is now banned.
func (m *Manager) strike(keys ...string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	banned := false
	for _, k := range keys {
		if k == "" {
			continue
		}
		recent := m.strikes[k][:0]
		for _, t := range m.strikes[k] {
			if now.Sub(t) < m.cfg.StrikeWindow {
				recent = append(recent, t)
			}
		}
		recent = append(recent, now)
		m.strikes[k] = recent
		if len(recent) >= m.cfg.StrikeLimit {
			m.banned[k] = now.Add(m.cfg.BanDuration)
			banned = true
		}
	}
	return banned
}

func (m *Manager) isBanned(keys ...string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for _, k := range keys {
		if until, ok := m.banned[k]; ok {
			if now.Before(until) {
				return true
			}
			delete(m.banned, k)
			delete(m.strikes, k)
		}
	}
	return false
}

// register makes cl the connection of its peer id, returning the one it
// replaces.
func (m *Manager) register(cl *Client) (old *Client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old = m.clients[cl.peerID]
	m.clients[cl.peerID] = cl
	return old
}

func (m *Manager) forget(cl *Client) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.all, cl)
	if cl.peerID != "" && m.clients[cl.peerID] == cl {
		delete(m.clients, cl.peerID)
	}
}

// Stats is a snapshot for health pages and metrics.
type Stats struct {
	Clients int
	Docs    int
}

// Stats returns current counts.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Stats{Clients: len(m.all), Docs: len(m.docs)}
}

// Shutdown closes every connection with CloseShutdown (clients reconnect,
// to this node after a restart or to another), then flushes and unloads
// every document and waits for their goroutines. Safe to call twice.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.mu.Lock()
	m.closing = true
	clients := make([]*Client, 0, len(m.all))
	for cl := range m.all {
		clients = append(clients, cl)
	}
	docs := make([]*document, 0, len(m.docs))
	for _, d := range m.docs {
		docs = append(docs, d)
	}
	m.mu.Unlock()
	for _, cl := range clients {
		cl.close(ErrCloseShutdown)
	}
	for _, d := range docs {
		d.stop()
	}
	done := make(chan struct{})
	go func() {
		m.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		m.mu.Lock()
		clear(m.docs)
		m.memTotal = 0
		m.mu.Unlock()
		m.stopAll()
		return nil
	case <-ctx.Done():
		m.stopAll() // the engine and storage calls in flight give up
		return ctx.Err()
	}
}

// callCtx bounds one engine or storage call: callTimeout, and Shutdown.
func (m *Manager) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(m.root, callTimeout)
}

type nopMetrics struct{}

func (nopMetrics) MessageIn(string, int)      {}
func (nopMetrics) MessageOut(string, int)     {}
func (nopMetrics) Applied(time.Duration, int) {}
func (nopMetrics) Persisted(time.Duration)    {}
func (nopMetrics) DocOpened(time.Duration)    {}
func (nopMetrics) DocClosed()                 {}
func (nopMetrics) EngineCrash()               {}
func (nopMetrics) Fanout(time.Duration)       {}
func (nopMetrics) Disconnect(int)             {}
func (nopMetrics) Limited(string)             {}
func (nopMetrics) Evicted(string)             {}
func (nopMetrics) Panicked(string)            {}
func (nopMetrics) Damaged(string)             {}
