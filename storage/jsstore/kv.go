package jsstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/weft-dev/weft/storage"
)

// writable checks a write to an existing document: ErrNotFound if it has no record,
// ErrDeleted if it has a tombstone.
func (s *Store) writable(ctx context.Context, docID string) error {
	_, _, err := s.getRecord(ctx, docID)
	if errors.Is(err, storage.ErrNotFound) {
		if derr := s.deleted(ctx, docID); derr != nil {
			return derr
		}
	}
	return err
}

// beginWrite runs the checks every write but Append and Compact starts with.
func (s *Store) beginWrite(ctx context.Context, docID string) (context.Context, context.CancelFunc, error) {
	if err := s.check(docID); err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := s.reachable(); err != nil {
		return nil, nil, fmt.Errorf("doc %s: %w", docID, err)
	}
	wctx, cancel := context.WithTimeout(context.Background(), s.opts.PublishTimeout)
	return wctx, cancel, nil
}

// SaveSyncState stores the sync state of docID with peerStorageID.
func (s *Store) SaveSyncState(ctx context.Context, docID, peerStorageID string, state []byte) error {
	if peerStorageID == "" {
		return fmt.Errorf("%w: doc %s: empty peer storage id", storage.ErrInvalid, docID)
	}
	wctx, cancel, err := s.beginWrite(ctx, docID)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.writable(wctx, docID); err != nil {
		return err
	}
	if _, err := s.sync.Put(wctx, encode(docID)+"."+encode(peerStorageID), state); err != nil {
		return fmt.Errorf("jsstore: doc %s: sync state: %w", docID, unavailable(err))
	}
	return nil
}

// LoadSyncState returns the sync state of docID with peerStorageID, or ErrNotFound.
func (s *Store) LoadSyncState(docID, peerStorageID string) ([]byte, error) {
	if err := s.read(docID); err != nil {
		return nil, err
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	e, err := s.sync.Get(ctx, encode(docID)+"."+encode(peerStorageID))
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, fmt.Errorf("%w: doc %s: sync state of %s", storage.ErrNotFound, docID, peerStorageID)
	}
	if err != nil {
		return nil, fmt.Errorf("jsstore: doc %s: sync state: %w", docID, unavailable(err))
	}
	return slices.Clone(e.Value()), nil
}

// PutVersion stores a named version of docID; ErrExists if the name is taken.
func (s *Store) PutVersion(ctx context.Context, docID string, v storage.Version) error {
	if v.Name == "" || len(v.Name) > storage.MaxVersionName {
		return fmt.Errorf("%w: doc %s: version name %q", storage.ErrInvalid, docID, v.Name)
	}
	wctx, cancel, err := s.beginWrite(ctx, docID)
	if err != nil {
		return err
	}
	defer cancel()
	if err := s.writable(wctx, docID); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.versions.Create(wctx, encode(docID)+"."+encode(v.Name), b)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("%w: doc %s: version %q", storage.ErrExists, docID, v.Name)
	}
	if err != nil {
		return fmt.Errorf("jsstore: doc %s: version: %w", docID, unavailable(err))
	}
	return nil
}

// Versions returns docID's named versions, oldest first.
func (s *Store) Versions(docID string) ([]storage.Version, error) {
	if err := s.read(docID); err != nil {
		return nil, err
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	if _, _, err := s.getRecord(ctx, docID); err != nil {
		return nil, err
	}
	var out []storage.Version
	err := watchAll(ctx, s.versions, encode(docID)+".*", func(_ string, b []byte) error {
		var v storage.Version
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("%w: doc %s: version: %w", storage.ErrCorrupt, docID, err)
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jsstore: doc %s: versions: %w", docID, unavailable(err))
	}
	slices.SortStableFunc(out, func(a, b storage.Version) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// SetAside keeps a copy of a chunk of docID that does not load, in <P>_ASIDE under
// "<doc>.<unix nanos, 20 digits>.<random>", the reason in the object's description.
func (s *Store) SetAside(ctx context.Context, docID string, chunk []byte, reason string) error {
	wctx, cancel, err := s.beginWrite(ctx, docID)
	if err != nil {
		return err
	}
	defer cancel()
	now := time.Now().UTC()
	name := fmt.Sprintf("%s.%020d.%s", encode(docID), now.UnixNano(), randomHex(4))
	meta := jetstream.ObjectMeta{Name: name, Description: reason}
	if _, err := s.aside.Put(wctx, meta, bytes.NewReader(chunk)); err != nil {
		return fmt.Errorf("jsstore: doc %s: set aside: %w", docID, unavailable(err))
	}
	return nil
}

// asideNames lists the set-aside objects, sorted by name (document, then time).
func (s *Store) asideInfos(ctx context.Context) ([]*jetstream.ObjectInfo, error) {
	infos, err := s.aside.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jsstore: set-aside chunks: %w", unavailable(err))
	}
	slices.SortFunc(infos, func(a, b *jetstream.ObjectInfo) int { return strings.Compare(a.Name, b.Name) })
	return infos, nil
}

// SetAsideChunks returns docID's set-aside chunks, oldest first.
func (s *Store) SetAsideChunks(docID string) ([]storage.Aside, error) {
	if err := s.read(docID); err != nil {
		return nil, err
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	infos, err := s.asideInfos(ctx)
	if err != nil {
		return nil, err
	}
	var out []storage.Aside
	prefix := encode(docID) + "."
	for _, in := range infos {
		rest, ok := strings.CutPrefix(in.Name, prefix)
		if !ok {
			continue
		}
		ts, _, _ := strings.Cut(rest, ".")
		ns, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			continue // another document's whose encoded id has this one's as prefix
		}
		b, err := s.aside.GetBytes(ctx, in.Name)
		if err != nil {
			return nil, fmt.Errorf("jsstore: doc %s: set-aside chunk: %w", docID, unavailable(err))
		}
		out = append(out, storage.Aside{At: time.Unix(0, ns).UTC(), Reason: in.Description, Chunk: b})
	}
	return out, nil
}

// SetAsideDocs returns the documents that have set-aside chunks.
func (s *Store) SetAsideDocs() ([]string, error) {
	if s.isShut.Load() {
		return nil, storage.ErrClosed
	}
	if err := s.reachable(); err != nil {
		return nil, err
	}
	ctx, cancel := s.readCtx()
	defer cancel()
	infos, err := s.asideInfos(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, in := range infos {
		key, _, _ := strings.Cut(in.Name, ".")
		id, err := decode(key)
		if err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1] != id {
			out = append(out, id)
		}
	}
	return out, nil
}
