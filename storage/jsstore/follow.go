package jsstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

const (
	followHeartbeat = time.Second
	// followRestartMin is the least time between two restarts of one follow's consumer, and
	// the first delay of a restart that failed (doubling up to followRestartMax).
	followRestartMin = 250 * time.Millisecond
	followRestartMax = 5 * time.Second
)

// follow is one Follow: an ordered consumer on one document's subject, restarted by its own
// goroutine (run) from the next undelivered sequence whenever it may have stalled: nats.go's
// ordered consumer recreates itself after a missed heartbeat or a reconnect, but not after
// every failure (a pull ended by a server's shutdown, seen to stall it for good in a
// three-server cluster). mu is held while f runs and guards cc, gen, next and stopped, so
// that stop, once it holds mu with stopped set, knows f will not run again.
type follow struct {
	s     *Store
	docID string
	f     func(storage.Logged)

	mu      sync.Mutex
	cc      jetstream.ConsumeContext
	gen     int    // which consumer's messages are delivered; older ones are ignored
	next    uint64 // the next sequence to deliver
	stopped bool

	kick chan struct{} // asks run to restart the consumer (buffered: one pending ask)
	quit chan struct{} // closed by stop
	done chan struct{} // closed when run returns
	once sync.Once
}

// Follow calls f with every entry of docID's log after sequence after, in log order, from one
// goroutine at a time, until stop is called (or the Store is closed). It survives reconnects,
// server restarts and a server's shutdown: the consumer is recreated from the next sequence
// it has not delivered, so nothing is lost or delivered twice. stop waits for a running f to
// return; f must not call stop.
func (s *Store) Follow(docID string, after uint64, f func(storage.Logged)) (stop func(), err error) {
	if err := s.read(docID); err != nil {
		return nil, err
	}
	fo := &follow{s: s, docID: docID, f: f, next: after + 1,
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := s.readCtx()
	defer cancel()
	if err := fo.start(ctx); err != nil {
		return nil, err
	}
	s.followMu.Lock()
	if s.isShut.Load() {
		s.followMu.Unlock()
		close(fo.done)
		fo.stop()
		return nil, storage.ErrClosed
	}
	s.follows[fo] = struct{}{}
	s.followMu.Unlock()
	go fo.run()
	return fo.stop, nil
}

// start creates a consumer from fo.next and makes it the one whose messages are delivered,
// stopping the previous one.
func (fo *follow) start(ctx context.Context) error {
	fo.mu.Lock()
	fo.gen++
	gen, next, old := fo.gen, fo.next, fo.cc
	fo.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{fo.s.subject(fo.docID)}}
	if next > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, next
	}
	cons, err := fo.s.js.OrderedConsumer(ctx, fo.s.chunkStream, cfg)
	if err != nil {
		return fmt.Errorf("jsstore: doc %s: follow: %w", fo.docID, unavailable(err))
	}
	cc, err := cons.Consume(func(m jetstream.Msg) { fo.deliver(gen, m) },
		jetstream.PullHeartbeat(followHeartbeat), jetstream.PullExpiry(5*followHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			fo.s.log.Debug("jsstore: follow: restarting", "doc", fo.docID, "err", err)
			fo.restart()
		}))
	if err != nil {
		return fmt.Errorf("jsstore: doc %s: follow: %w", fo.docID, unavailable(err))
	}
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if fo.stopped || fo.gen != gen {
		cc.Stop()
		return nil
	}
	fo.cc = cc
	return nil
}

// deliver hands one message of consumer gen to f, unless a newer consumer took over or it was
// delivered already.
func (fo *follow) deliver(gen int, m jetstream.Msg) {
	fo.mu.Lock()
	defer fo.mu.Unlock()
	if fo.stopped || gen != fo.gen {
		return
	}
	l, ok := fo.s.logged(fo.docID, m)
	if l.Seq < fo.next {
		return
	}
	fo.next = l.Seq + 1
	if !ok {
		return
	}
	switch {
	case l.Chunk != nil:
		fo.s.cache.appended(fo.docID, l.Seq, l.Chunk) // for a reload while NATS is down
	case l.Deleted:
		fo.s.cache.drop(fo.docID)
		fo.s.recs.drop(fo.docID)
	}
	fo.f(l)
}

// restart asks run to recreate the consumer (without waiting).
func (fo *follow) restart() {
	select {
	case fo.kick <- struct{}{}:
	default:
	}
}

// run restarts the consumer when asked, retrying with a growing delay until it is back.
func (fo *follow) run() {
	defer close(fo.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-fo.quit
		cancel()
	}()
	for {
		select {
		case <-fo.quit:
			return
		case <-fo.kick:
		}
		for delay := followRestartMin; ; delay = min(2*delay, followRestartMax) {
			rctx, rcancel := context.WithTimeout(ctx, readTimeout)
			err := fo.start(rctx)
			rcancel()
			if err == nil {
				fo.mu.Lock()
				next := fo.next
				fo.mu.Unlock()
				fo.s.log.Debug("jsstore: follow: restarted", "doc", fo.docID, "from", next)
				break
			}
			fo.s.log.Debug("jsstore: follow: restart failed; retrying", "doc", fo.docID, "err", err, "in", delay)
			if !sleep(fo.quit, delay) {
				return
			}
		}
		if !sleep(fo.quit, followRestartMin) {
			return
		}
	}
}

// sleep waits d, or until quit is closed (false).
func sleep(quit <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-quit:
		return false
	case <-t.C:
		return true
	}
}

func (fo *follow) stop() {
	fo.once.Do(func() {
		close(fo.quit)
		<-fo.done // no restart runs after this
		fo.mu.Lock()
		fo.stopped = true
		cc := fo.cc
		fo.mu.Unlock()
		if cc != nil {
			cc.Stop()
			<-cc.Closed()
		}
		fo.s.followMu.Lock()
		delete(fo.s.follows, fo)
		fo.s.followMu.Unlock()
	})
}

// watchReconnects restarts every follow after the connection comes back: the consumer it
// pulled from may be gone with the server that hosted it.
func (s *Store) watchReconnects() {
	ch := s.nc.StatusChanged(nats.CONNECTED)
	defer s.nc.RemoveStatusListener(ch)
	for {
		select {
		case <-s.closed:
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			s.followMu.Lock()
			for fo := range s.follows {
				fo.restart()
			}
			s.followMu.Unlock()
		}
	}
}

// logged turns a message of a document's subject into a Logged entry.
func (s *Store) logged(docID string, m jetstream.Msg) (storage.Logged, bool) {
	md, err := m.Metadata()
	if err != nil {
		s.log.Warn("jsstore: follow: message without metadata", "doc", docID, "err", err)
		return storage.Logged{}, false
	}
	h := m.Headers()
	l := storage.Logged{Seq: md.Sequence.Stream}
	switch {
	case h.Get(hdrDeleted) != "":
		l.Deleted = true
	case h.Get(hdrCompacted) != "":
		upTo, err := strconv.ParseUint(h.Get(hdrCompacted), 10, 64)
		if err != nil || upTo == 0 {
			s.log.Warn("jsstore: follow: bad compaction marker", "doc", docID, "value", h.Get(hdrCompacted))
			return l, false
		}
		l.Compacted, l.Heads, l.Own = upTo, h.Get(hdrHeads), h.Get(hdrWriter) == s.writer
	default:
		n, _ := strconv.Atoi(h.Get(hdrChanges))
		l.Changes, l.Own = n, h.Get(hdrWriter) == s.writer
		data := m.Data()
		if h.Get(hdrObject) != "" {
			ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
			data, err = s.chunkBody(ctx, docID, h, data)
			cancel()
			if err != nil {
				s.log.Warn("jsstore: follow: large chunk unreadable (compacted or deleted meanwhile)", "doc", docID, "err", err)
				return l, false
			}
		} else {
			data = append([]byte(nil), data...)
		}
		if len(data) == 0 {
			return l, false
		}
		l.Chunk = data
	}
	return l, true
}
