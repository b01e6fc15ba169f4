package jsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	dupWindow     = 2 * time.Minute
	setupAttempts = 5
)

// replicaWait is how long setup keeps asking for the replicas it wants while the cluster
// answers that it has too few servers: a cluster that is still forming (its leader has not
// heard from every server yet) says so for a few seconds.
const replicaWait = 20 * time.Second

// setup creates or updates every stream and bucket. The first one created finds the
// effective replica count: a single server refuses replicas > 1 (then 1), a cluster too
// small for them has insufficient resources (asked again for replicaWait, then one fewer,
// until it fits).
func (s *Store) setup(ctx context.Context) error {
	p := s.opts.Prefix
	s.replicas = s.opts.Replicas
	deadline := time.Now().Add(replicaWait)
	for {
		cfg := jetstream.StreamConfig{
			Name: s.chunkStream, Subjects: []string{s.subjPrefix + "*"},
			Storage: jetstream.FileStorage, Replicas: s.replicas, AllowDirect: true,
			Duplicates: dupWindow, Discard: jetstream.DiscardOld,
		}
		st, err := retrySetup(ctx, func() (jetstream.Stream, error) { return s.js.CreateOrUpdateStream(ctx, cfg) })
		if err == nil {
			s.chunks = st
			break
		}
		if s.replicas > 1 && notClustered(err) {
			s.replicas = 1
			continue
		}
		if s.replicas > 1 && tooFewServers(err) {
			if time.Now().Before(deadline) {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(250 * time.Millisecond): // the cluster may still be forming
				}
				continue
			}
			s.replicas--
			deadline = time.Now().Add(replicaWait)
			continue
		}
		return fmt.Errorf("jsstore: stream %s: %w", s.chunkStream, unavailable(err))
	}
	if s.replicas == 1 && s.opts.Replicas > 1 {
		s.log.Info("jsstore: one JetStream server, not a cluster: one replica", "asked", s.opts.Replicas)
	} else if s.replicas < s.opts.Replicas {
		s.log.Warn("jsstore: replicas capped: the JetStream cluster has fewer servers up than asked for",
			"asked", s.opts.Replicas, "replicas", s.replicas)
	}
	kvs := []struct {
		kv  *jetstream.KeyValue
		cfg jetstream.KeyValueConfig
	}{
		{&s.docs, jetstream.KeyValueConfig{Bucket: p + "_DOCS"}},
		{&s.tombs, jetstream.KeyValueConfig{Bucket: p + "_TOMBSTONES", TTL: s.opts.TombstoneTTL}},
		{&s.sync, jetstream.KeyValueConfig{Bucket: p + "_SYNC"}},
		{&s.versions, jetstream.KeyValueConfig{Bucket: p + "_VERSIONS"}},
		{&s.meta, jetstream.KeyValueConfig{Bucket: p + "_META"}},
	}
	for _, b := range kvs {
		cfg := b.cfg
		cfg.Storage, cfg.Replicas = jetstream.FileStorage, s.replicas
		kv, err := retrySetup(ctx, func() (jetstream.KeyValue, error) { return s.js.CreateOrUpdateKeyValue(ctx, cfg) })
		if err != nil {
			return fmt.Errorf("jsstore: bucket %s: %w", cfg.Bucket, unavailable(err))
		}
		*b.kv = kv
	}
	objs := []struct {
		obs  *jetstream.ObjectStore
		name string
	}{{&s.snapshots, p + "_SNAPSHOTS"}, {&s.blobs, p + "_BLOBS"}, {&s.aside, p + "_ASIDE"}}
	for _, b := range objs {
		cfg := jetstream.ObjectStoreConfig{Bucket: b.name, Storage: jetstream.FileStorage, Replicas: s.replicas}
		obs, err := retrySetup(ctx, func() (jetstream.ObjectStore, error) { return s.js.CreateOrUpdateObjectStore(ctx, cfg) })
		if err != nil {
			return fmt.Errorf("jsstore: object store %s: %w", b.name, unavailable(err))
		}
		*b.obs = obs
	}
	return nil
}

// retrySetup retries create-or-update calls that lose a race with another node's.
func retrySetup[T any](ctx context.Context, f func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for i := range setupAttempts {
		if v, err = f(); err == nil || tooFewServers(err) || ctx.Err() != nil {
			return v, err
		}
		time.Sleep(time.Duration(i+1) * 50 * time.Millisecond)
	}
	return v, err
}

// notClustered reports the answer of a JetStream server that is not in a cluster.
func notClustered(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == 10074
}

func tooFewServers(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode {
	case 10074, // replicas > 1 not supported in non-clustered mode
		10023, // insufficient resources
		10005: // no suitable peers
		return true
	}
	return false
}

const storageIDKey = "storage-id"

// loadStorageID reads the cluster-wide storage id, creating it if this is the first Open.
func (s *Store) loadStorageID(ctx context.Context) error {
	id := uuid4()
	_, err := s.meta.Create(ctx, storageIDKey, []byte(id))
	if err == nil {
		s.id = id
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("jsstore: storage id: %w", unavailable(err))
	}
	e, err := s.meta.Get(ctx, storageIDKey)
	if err != nil {
		return fmt.Errorf("jsstore: storage id: %w", unavailable(err))
	}
	s.id = string(e.Value())
	return nil
}
