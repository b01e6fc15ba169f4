package jsstore

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

// Options configure a Store. The zero value is usable.
type Options struct {
	Replicas       int           // stream/bucket replicas; 0 means 3; capped at the cluster's size
	Prefix         string        // names prefix, default "WEFT"
	PublishTimeout time.Duration // how long an Append waits for its acknowledgement; default 5s
	CacheBytes     int64         // fallback cache budget; default 256 MiB; <0 disables
	TombstoneTTL   time.Duration // how long a deleted document's tombstone lives; default 30 days
	Logger         *slog.Logger
}

// ErrNoJetStream is Open's error when the server has no JetStream.
var ErrNoJetStream = errors.New("jsstore: the NATS server has no JetStream: " +
	"start nats-server with -js, or add `jetstream {}` to its configuration " +
	"(in a cluster, every server needs it)")

const (
	defaultPrefix    = "WEFT"
	defaultTimeout   = 5 * time.Second
	defaultCache     = 256 << 20
	defaultTombstone = 30 * 24 * time.Hour
	headerRoom       = 1024 // bytes of a chunk message's max payload kept for headers
	readTimeout      = 5 * time.Second
)

// Message headers.
const (
	hdrChanges   = "Weft-Changes"
	hdrWriter    = "Weft-Writer"
	hdrObject    = "Weft-Object"
	hdrCompacted = "Weft-Compacted"
	hdrDeleted   = "Weft-Deleted"
	hdrHeads     = "Weft-Heads"
)

// Store is a session.Store on NATS JetStream, shared by every node that opens the same
// names on the same JetStream domain.
type Store struct {
	nc       *nats.Conn
	js       jetstream.JetStream
	log      *slog.Logger
	opts     Options
	replicas int
	writer   string // this instance's random id (header Weft-Writer)
	id       string // the cluster-wide storage id

	chunkStream string
	subjPrefix  string // "weft.chunk." or "<prefix>.chunk."
	maxChunk    int    // larger chunks go to the blob object store

	chunks    jetstream.Stream
	docs      jetstream.KeyValue
	tombs     jetstream.KeyValue
	sync      jetstream.KeyValue
	versions  jetstream.KeyValue
	meta      jetstream.KeyValue
	snapshots jetstream.ObjectStore
	blobs     jetstream.ObjectStore
	aside     jetstream.ObjectStore

	cache *lru      // fallback cache: owned by its own mutex
	recs  *recCache // last known doc records: owned by its own mutex
	msgID atomic.Uint64
	// probe: the last Reachable answer and when (Unix ns), shared by callers
	probeOK atomic.Bool
	probeAt atomic.Int64

	queue   chan *appendReq // to the committer
	closed  chan struct{}   // closed by Close
	stopped chan struct{}   // closed by Close once the committer has returned
	wg      sync.WaitGroup  // the committer
	once    sync.Once
	isShut  atomic.Bool

	followMu sync.Mutex
	follows  map[*follow]struct{}
	feeds    map[*feed]struct{}
}

// Open connects a Store to JetStream over nc, creating or updating its streams and buckets
// (idempotently: several nodes may open at once). It does not take ownership of nc.
func Open(ctx context.Context, nc *nats.Conn, o Options) (*Store, error) {
	o = withDefaults(o)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, fmt.Errorf("jsstore: %w", err)
	}
	if _, err := js.AccountInfo(ctx); err != nil {
		if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) ||
			errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("%w (%v)", ErrNoJetStream, err)
		}
		return nil, fmt.Errorf("jsstore: account info: %w", unavailable(err))
	}
	s := &Store{
		nc: nc, js: js, log: o.Logger, opts: o,
		writer:  randomHex(8),
		cache:   newLRU(o.CacheBytes),
		recs:    newRecCache(4096),
		queue:   make(chan *appendReq, 1024),
		closed:  make(chan struct{}),
		stopped: make(chan struct{}),
		follows: map[*follow]struct{}{},
		feeds:   map[*feed]struct{}{},
	}
	s.chunkStream = o.Prefix + "_CHUNKS"
	s.subjPrefix = "weft.chunk."
	if o.Prefix != defaultPrefix {
		s.subjPrefix = strings.ToLower(o.Prefix) + ".chunk."
	}
	s.maxChunk = int(nc.MaxPayload()) - headerRoom
	if err := s.setup(ctx); err != nil {
		return nil, err
	}
	if err := s.loadStorageID(ctx); err != nil {
		return nil, err
	}
	s.wg.Add(2)
	go s.committer()
	go func() {
		defer s.wg.Done()
		s.watchReconnects()
	}()
	return s, nil
}

func withDefaults(o Options) Options {
	if o.Replicas <= 0 {
		o.Replicas = 3
	}
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = defaultTimeout
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = defaultCache
	}
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = defaultTombstone
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// StorageID is the cluster-wide storage id, shared by every Store on the same names.
func (s *Store) StorageID() string { return s.id }

// Replicas is the effective number of replicas of every stream and bucket.
func (s *Store) Replicas() int { return s.replicas }

// Close stops the store: it finishes the writes already taken, stops every follow and feed and
// refuses later calls with storage.ErrClosed. It does not close the NATS connection.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.isShut.Store(true)
		close(s.closed)
		s.wg.Wait()
		close(s.stopped)
		s.followMu.Lock()
		fs := make([]*follow, 0, len(s.follows))
		for f := range s.follows {
			fs = append(fs, f)
		}
		feeds := make([]*feed, 0, len(s.feeds))
		for fd := range s.feeds {
			feeds = append(feeds, fd)
		}
		s.followMu.Unlock()
		for _, f := range fs {
			f.stop()
		}
		for _, fd := range feeds {
			fd.stop()
		}
	})
	return nil
}

// check returns storage.ErrClosed after Close and ErrInvalid for an empty doc id.
func (s *Store) check(docID string) error {
	if s.isShut.Load() {
		return storage.ErrClosed
	}
	if docID == "" {
		return fmt.Errorf("%w: empty doc id", storage.ErrInvalid)
	}
	return nil
}

// reachable returns an error wrapping storage.ErrUnavailable when NATS is disconnected.
// Reachable reports whether JetStream answers now: connected, and its
// account info comes back within a second. Answers are reused for half a
// second, so that many documents asking at once cost one request.
func (s *Store) Reachable() bool {
	if s.reachable() != nil {
		return false
	}
	now := time.Now().UnixNano()
	if now-s.probeAt.Load() < int64(probeReuse) {
		return s.probeOK.Load()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := s.js.AccountInfo(ctx)
	s.probeOK.Store(err == nil)
	s.probeAt.Store(time.Now().UnixNano())
	return err == nil
}

// probeReuse is how long a Reachable answer is reused.
const probeReuse = 500 * time.Millisecond

func (s *Store) reachable() error {
	if !s.nc.IsConnected() {
		return fmt.Errorf("%w: not connected to NATS (%s)", storage.ErrUnavailable, s.nc.Status())
	}
	return nil
}

// unavailable wraps err with storage.ErrUnavailable when it says that JetStream could not be
// reached or answer in time.
func unavailable(err error) error {
	if err == nil || errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	if isUnreachable(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

func isUnreachable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == 503 {
		return true
	}
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrConnectionClosed) ||
		errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

// readCtx is the context of a read: it ends after readTimeout.
func (s *Store) readCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), readTimeout)
}

// encode maps a doc id (or peer id, version name) to a subject token and KV key: ids of
// only [A-Za-z0-9_-] as is, others "=" + base64url without padding.
func encode(id string) string {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "=" + base64.RawURLEncoding.EncodeToString([]byte(id))
		}
	}
	return id
}

// decode reverses encode.
func decode(key string) (string, error) {
	if !strings.HasPrefix(key, "=") {
		return key, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(key[1:])
	if err != nil {
		return "", fmt.Errorf("%w: bad key %q: %w", storage.ErrCorrupt, key, err)
	}
	return string(b), nil
}

func (s *Store) subject(docID string) string { return s.subjPrefix + encode(docID) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid4() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
