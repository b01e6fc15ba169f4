package jsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

// Feed consumers: see doc.go ("Feeds").
const (
	feedGroup       = "weft"
	feedBatch       = 256
	feedWait        = 2 * time.Second // a pull's expiry: also how long stop may wait
	feedPinTTL      = 10 * time.Second
	feedAckWait     = time.Minute
	feedMaxPending  = 1000
	feedInactiveTTL = 7 * 24 * time.Hour // a feed nobody consumed for a week is removed
)

// feed is one Feed: a pull loop on the durable consumer, and the messages handed to f and
// not yet acknowledged. mu guards inflight and pinned.
type feed struct {
	s    *Store
	name string
	cons jetstream.Consumer
	f    func(doc string, l storage.Logged, ack func())
	quit chan struct{}
	done chan struct{}
	once sync.Once

	mu       sync.Mutex
	inflight map[uint64]jetstream.Msg // nil once stopped
	pinned   bool                     // received messages: this Store holds the pin
}

// feedConsumerPrefix starts every feed consumer's name (compaction looks for them).
const feedConsumerPrefix = "feed-"

// FeedConsumer is the durable consumer name of the feed called name.
func FeedConsumer(name string) string {
	sum := sha256.Sum256([]byte(name))
	return feedConsumerPrefix + hex.EncodeToString(sum[:12])
}

// Feed delivers every entry appended to any document's log from the feed's first creation
// on, once across every Store that runs a Feed of the same name: a durable consumer with a
// pinned priority group, so one Store at a time receives it, in stream order, and another
// takes over when that one stops or dies. f runs on the feed's goroutine and may block
// (that holds the feed back); it must call ack once the entry is dealt with, from any
// goroutine. An entry not acknowledged by stop is given back (another Store gets it at
// once); one never acknowledged by a Store that died is redelivered after a minute.
// Unacknowledged entries are kept from redelivery while this Store runs.
func (s *Store) Feed(name string, f func(doc string, l storage.Logged, ack func())) (stop func(), err error) {
	if s.isShut.Load() {
		return nil, storage.ErrClosed
	}
	cfg := jetstream.ConsumerConfig{
		Durable: FeedConsumer(name), Description: "weft feed " + name,
		FilterSubject: s.subjPrefix + "*", DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy: jetstream.AckExplicitPolicy, AckWait: feedAckWait, MaxAckPending: feedMaxPending,
		PriorityPolicy: jetstream.PriorityPolicyPinned, PriorityGroups: []string{feedGroup}, PinnedTTL: feedPinTTL,
		InactiveThreshold: feedInactiveTTL, Replicas: s.replicas,
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	cons, err := s.js.CreateOrUpdateConsumer(ctx, s.chunkStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("jsstore: feed %s: %w", name, unavailable(err))
	}
	fd := &feed{s: s, name: name, cons: cons, f: f, quit: make(chan struct{}), done: make(chan struct{}),
		inflight: map[uint64]jetstream.Msg{}}
	s.followMu.Lock()
	if s.isShut.Load() {
		s.followMu.Unlock()
		return nil, storage.ErrClosed
	}
	s.feeds[fd] = struct{}{}
	s.followMu.Unlock()
	go fd.run()
	return fd.stop, nil
}

// run pulls until stop, and keeps the unacknowledged messages from redelivery.
func (fd *feed) run() {
	defer close(fd.done)
	tick := time.NewTicker(feedAckWait / 3)
	defer tick.Stop()
	for {
		select {
		case <-fd.quit:
			return
		case <-tick.C:
			fd.progress()
		default:
		}
		batch, err := fd.cons.Fetch(feedBatch, jetstream.FetchMaxWait(feedWait), jetstream.FetchPriorityGroup(feedGroup))
		if err != nil {
			fd.s.log.Debug("jsstore: feed: pull failed", "feed", fd.name, "err", err)
			select { // NATS is down or the consumer is being recreated: try again shortly
			case <-fd.quit:
				return
			case <-time.After(feedWait):
			}
			continue
		}
		for m := range batch.Messages() {
			fd.handle(m) // every message of the batch, even after stop: none is left behind
		}
		if err := batch.Error(); err != nil {
			fd.s.log.Debug("jsstore: feed: pull ended", "feed", fd.name, "err", err)
		}
	}
}

func (fd *feed) handle(m jetstream.Msg) {
	md, err := m.Metadata()
	if err != nil {
		fd.s.log.Warn("jsstore: feed: message without metadata", "feed", fd.name, "err", err)
		return
	}
	seq := md.Sequence.Stream
	fd.mu.Lock()
	if fd.inflight == nil {
		fd.mu.Unlock()
		_ = m.Nak()
		return
	}
	_, dup := fd.inflight[seq]
	fd.inflight[seq], fd.pinned = m, true
	fd.mu.Unlock()
	if dup { // a redelivery of one still being dealt with here
		return
	}
	doc, err := decode(strings.TrimPrefix(m.Subject(), fd.s.subjPrefix))
	if err != nil {
		fd.s.log.Warn("jsstore: feed: bad subject", "feed", fd.name, "subject", m.Subject())
		fd.ack(seq)
		return
	}
	l, ok := fd.s.logged(doc, m)
	if !ok {
		fd.ack(seq)
		return
	}
	var once sync.Once
	fd.f(doc, l, func() { once.Do(func() { fd.ack(seq) }) })
}

func (fd *feed) ack(seq uint64) {
	fd.mu.Lock()
	m := fd.inflight[seq]
	delete(fd.inflight, seq)
	fd.mu.Unlock()
	if m == nil {
		return // stopped meanwhile: given back
	}
	if err := m.Ack(); err != nil {
		fd.s.log.Warn("jsstore: feed: ack failed (the entry will be delivered again)", "feed", fd.name, "seq", seq, "err", err)
	}
}

// progress resets the ack timer of every unacknowledged message: a webhook retried for an
// hour is still this Store's.
func (fd *feed) progress() {
	fd.mu.Lock()
	ms := make([]jetstream.Msg, 0, len(fd.inflight))
	for _, m := range fd.inflight {
		ms = append(ms, m)
	}
	fd.mu.Unlock()
	for _, m := range ms {
		_ = m.InProgress()
	}
}

// stop ends the pulls (the last one within feedWait), gives back every unacknowledged
// message in stream order, and unpins so that another Store takes over now.
func (fd *feed) stop() {
	fd.once.Do(func() {
		close(fd.quit)
		<-fd.done
		fd.mu.Lock()
		seqs := make([]uint64, 0, len(fd.inflight))
		for seq := range fd.inflight {
			seqs = append(seqs, seq)
		}
		slices.Sort(seqs)
		ms, pinned := fd.inflight, fd.pinned
		fd.inflight = nil
		fd.mu.Unlock()
		// Unpin first: a Nak while nobody may receive sends the entry to the back of the
		// redelivery queue, out of order.
		if pinned {
			ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
			err := fd.s.chunks.UnpinConsumer(ctx, FeedConsumer(fd.name), feedGroup)
			cancel()
			if err != nil {
				fd.s.log.Debug("jsstore: feed: unpin", "feed", fd.name, "err", err)
			}
		}
		// At once, in sequence order: the redelivery queue comes before newer messages, so
		// the Store that takes over usually gets these first (not always: the server may
		// take a newer message for its pull before it has processed these Naks). No pull of
		// this Store is left on the server: run returned, and a Fetch returns only after
		// the server's expiry (nats.go waits a second longer).
		for _, seq := range seqs {
			_ = ms[seq].Nak()
		}
		fd.s.followMu.Lock()
		delete(fd.s.feeds, fd)
		fd.s.followMu.Unlock()
	})
}
