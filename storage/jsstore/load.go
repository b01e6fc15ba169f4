package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

const (
	loadAttempts = 10
	getBatch     = 256
)

// errRetry means a Load raced a compaction (or read a lagging replica): read again.
var errRetry = errors.New("jsstore: read raced a compaction")

// Load returns every chunk of docID: its snapshot, then the incrementals its record lists.
// While JetStream is unreachable it returns the fallback cache's copy, if it has one.
func (s *Store) Load(docID string) (storage.Chunks, error) {
	if err := s.check(docID); err != nil {
		return storage.Chunks{}, err
	}
	if err := s.reachable(); err != nil {
		return s.fallback(docID, err)
	}
	var err error
	for i := range loadAttempts {
		var (
			c    storage.Chunks
			seqs []uint64
		)
		if c, seqs, err = s.load(docID); err == nil {
			s.cache.loaded(docID, c, seqs)
			return c, nil
		}
		if errors.Is(err, storage.ErrNotFound) {
			return storage.Chunks{}, s.notFound(docID, err)
		}
		if !errors.Is(err, errRetry) {
			break
		}
		time.Sleep(time.Duration(i+1) * time.Millisecond)
	}
	if errors.Is(err, storage.ErrUnavailable) {
		return s.fallback(docID, err)
	}
	return storage.Chunks{}, err
}

// notFound is Load's answer for a document without a record: deleted (an
// error that is both ErrNotFound and ErrDeleted) while its tombstone lives,
// else not found, and known to be empty: what this node appends next is
// cached.
func (s *Store) notFound(docID string, err error) error {
	ctx, cancel := s.readCtx()
	defer cancel()
	if derr := s.deleted(ctx, docID); errors.Is(derr, storage.ErrDeleted) {
		return fmt.Errorf("%w: %w", storage.ErrNotFound, derr)
	}
	s.cache.loaded(docID, storage.Chunks{}, nil)
	return err
}

func (s *Store) fallback(docID string, cause error) (storage.Chunks, error) {
	if c, ok := s.cache.get(docID); ok {
		s.log.Debug("jsstore: load from the fallback cache", "doc", docID, "cause", cause)
		return c, nil
	}
	return storage.Chunks{}, fmt.Errorf("doc %s: %w", docID, unavailable(cause))
}

// load reads the record, its snapshot and its chunks once. A snapshot object or listed chunk
// that is gone means a compaction committed meanwhile: errRetry.
func (s *Store) load(docID string) (storage.Chunks, []uint64, error) {
	ctx, cancel := s.readCtx()
	defer cancel()
	r, _, err := s.getRecord(ctx, docID)
	if err != nil {
		return storage.Chunks{}, nil, err
	}
	c := storage.Chunks{LastSeq: r.LastSeq, SnapSeq: r.SnapUpTo}
	if r.Snap != "" {
		b, err := s.snapshots.GetBytes(ctx, r.Snap)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return c, nil, errRetry
		}
		if err != nil {
			return c, nil, fmt.Errorf("jsstore: doc %s: snapshot: %w", docID, unavailable(err))
		}
		c.Snapshots, c.Bytes = [][]byte{b}, int64(len(b))
	}
	if len(r.Chunks) == 0 {
		return c, nil, nil
	}
	got, err := s.getChunks(ctx, docID, r.Chunks)
	if err != nil {
		return c, nil, err
	}
	seqs := make([]uint64, len(r.Chunks))
	for i, b := range got {
		c.Incrementals = append(c.Incrementals, b)
		c.Bytes += int64(len(b))
		seqs[i] = r.Chunks[i].Seq
	}
	return c, seqs, nil
}

// getChunks reads the listed chunks of docID with batched direct gets on its subject.
func (s *Store) getChunks(ctx context.Context, docID string, want []entry) ([][]byte, error) {
	out := make([][]byte, 0, len(want))
	next := want[0].Seq
	last := want[len(want)-1].Seq
	i := 0
	for i < len(want) {
		msgs, err := s.directBatch(ctx, s.subject(docID), next, last)
		if err != nil {
			return nil, fmt.Errorf("jsstore: doc %s: chunks: %w", docID, unavailable(err))
		}
		if len(msgs) == 0 {
			return nil, errRetry
		}
		for _, m := range msgs {
			if i < len(want) && want[i].Seq < m.seq {
				return nil, errRetry // a listed chunk is gone: purged by a compaction
			}
			if i == len(want) || want[i].Seq != m.seq {
				continue // a marker, or a chunk no record lists
			}
			b, err := s.chunkBody(ctx, docID, m.hdr, m.data)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
			i++
			next = m.seq + 1
		}
		if n := msgs[len(msgs)-1].seq + 1; n > next {
			next = n
		}
	}
	return out, nil
}

// chunkBody returns a chunk message's bytes, from the blob store for large chunks.
func (s *Store) chunkBody(ctx context.Context, docID string, h nats.Header, data []byte) ([]byte, error) {
	name := h.Get(hdrObject)
	if name == "" {
		return data, nil
	}
	b, err := s.blobs.GetBytes(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, errRetry
	}
	if err != nil {
		return nil, fmt.Errorf("jsstore: doc %s: large chunk %s: %w", docID, name, unavailable(err))
	}
	return b, nil
}

type rawMsg struct {
	seq  uint64
	hdr  nats.Header
	data []byte
}

// directBatch asks for up to getBatch messages of subject from seq to upTo in one direct get
// request; the answers end with an end-of-batch status message.
func (s *Store) directBatch(ctx context.Context, subject string, seq, upTo uint64) ([]rawMsg, error) {
	req, err := json.Marshal(map[string]any{"seq": seq, "next_by_subj": subject, "batch": getBatch, "up_to_seq": upTo})
	if err != nil {
		return nil, err
	}
	inbox := s.nc.NewRespInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+s.chunkStream, inbox, req); err != nil {
		return nil, err
	}
	var out []rawMsg
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, err
		}
		if len(m.Data) == 0 && m.Header.Get("Status") != "" {
			switch st := m.Header.Get("Status"); st {
			case "204", "404":
				return out, nil
			case "503":
				return nil, nats.ErrNoResponders
			default:
				return nil, fmt.Errorf("direct get: status %s %s", st, m.Header.Get("Description"))
			}
		}
		n, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("direct get: bad sequence header: %w", err)
		}
		out = append(out, rawMsg{seq: n, hdr: m.Header, data: m.Data})
	}
}

// Snapshot returns docID's latest snapshot and the sequence it covers; ErrNotFound if none.
func (s *Store) Snapshot(docID string) ([]byte, uint64, error) {
	if err := s.read(docID); err != nil {
		return nil, 0, err
	}
	for range loadAttempts {
		ctx, cancel := s.readCtx()
		r, _, err := s.getRecord(ctx, docID)
		if err != nil {
			cancel()
			return nil, 0, err
		}
		if r.Snap == "" {
			cancel()
			return nil, 0, fmt.Errorf("%w: doc %s: no snapshot", storage.ErrNotFound, docID)
		}
		b, err := s.snapshots.GetBytes(ctx, r.Snap)
		cancel()
		if err == nil {
			return b, r.SnapUpTo, nil
		}
		if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil, 0, fmt.Errorf("jsstore: doc %s: snapshot: %w", docID, unavailable(err))
		}
	}
	return nil, 0, fmt.Errorf("jsstore: doc %s: snapshot: %w", docID, errRetry)
}

// LastSeq returns the sequence of the last entry of docID's log (0 if it has none): one
// direct get of the subject's last message, not a load.
func (s *Store) LastSeq(docID string) (uint64, error) {
	if err := s.check(docID); err != nil {
		return 0, err
	}
	if err := s.reachable(); err != nil {
		return 0, fmt.Errorf("doc %s: %w", docID, err)
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	m, err := s.chunks.GetLastMsgForSubject(ctx, s.subject(docID))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("jsstore: doc %s: last sequence: %w", docID, unavailable(err))
	}
	return m.Sequence, nil
}
