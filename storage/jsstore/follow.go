package jsstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

const followHeartbeat = time.Second

// follow is one Follow: an ordered consumer on one document's subject. mu is held while f
// runs, so that stop, once it holds mu with stopped set, knows f will not run again.
type follow struct {
	s       *Store
	cc      jetstream.ConsumeContext
	mu      sync.Mutex
	stopped bool
	once    sync.Once
}

// Follow calls f with every entry of docID's log after sequence after, in log order, from one
// goroutine, until stop is called (or the Store is closed). It survives reconnects and server
// restarts: the ordered consumer recreates itself from the last sequence it delivered. stop
// waits for a running f to return; f must not call stop.
func (s *Store) Follow(docID string, after uint64, f func(storage.Logged)) (stop func(), err error) {
	if err := s.read(docID); err != nil {
		return nil, err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{s.subject(docID)}}
	if after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	cons, err := s.js.OrderedConsumer(ctx, s.chunkStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("jsstore: doc %s: follow: %w", docID, unavailable(err))
	}
	fo := &follow{s: s}
	handler := func(m jetstream.Msg) {
		fo.mu.Lock()
		defer fo.mu.Unlock()
		if fo.stopped {
			return
		}
		if l, ok := s.logged(docID, m); ok {
			switch {
			case l.Chunk != nil:
				s.cache.appended(docID, l.Seq, l.Chunk) // for a reload while NATS is down
			case l.Deleted:
				s.cache.drop(docID)
				s.recs.drop(docID)
			}
			f(l)
		}
	}
	cc, err := cons.Consume(handler, jetstream.PullHeartbeat(followHeartbeat), jetstream.PullExpiry(5*followHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			s.log.Debug("jsstore: follow", "doc", docID, "err", err)
		}))
	if err != nil {
		return nil, fmt.Errorf("jsstore: doc %s: follow: %w", docID, unavailable(err))
	}
	fo.cc = cc
	s.followMu.Lock()
	if s.isShut.Load() {
		s.followMu.Unlock()
		fo.stop()
		return nil, storage.ErrClosed
	}
	s.follows[fo] = struct{}{}
	s.followMu.Unlock()
	return fo.stop, nil
}

func (fo *follow) stop() {
	fo.once.Do(func() {
		fo.cc.Stop()
		fo.mu.Lock()
		fo.stopped = true
		fo.mu.Unlock()
		<-fo.cc.Closed()
		fo.s.followMu.Lock()
		delete(fo.s.follows, fo)
		fo.s.followMu.Unlock()
	})
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
		l.Compacted = upTo
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
