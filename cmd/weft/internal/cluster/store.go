package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/jsstore"
)

// uploadedKey marks, in the local bbolt file, that its documents were
// uploaded into JetStream.
const uploadedKey = "jetstream-uploaded"

// openStore waits for the first connection (a cluster node has no store
// without NATS), then opens the documents' store in JetStream.
func (cl *Cluster) openStore(ctx context.Context, o Options) error {
	wait := o.ConnectWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	deadline := time.Now().Add(wait)
	for !cl.nc.IsConnected() {
		if time.Now().After(deadline) {
			return fmt.Errorf("nats %s: no server answered within %s (a cluster node keeps its documents in JetStream)", o.URLs, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	s, err := jsstore.Open(ctx, cl.nc, jsstore.Options{Replicas: o.Replicas, Logger: o.Logger})
	if err != nil {
		return fmt.Errorf("opening the JetStream store: %w", err)
	}
	cl.store = s
	return nil
}

// Store is where the cluster keeps documents: JetStream, shared by every
// node.
func (cl *Cluster) Store() *jsstore.Store { return cl.store }

// Upload copies the documents of a node's local bbolt file into JetStream,
// once (a mark in the file remembers it): each document's chunks are
// appended to what the cluster holds of it, so that they merge with it and
// never replace it; named versions go along (a name the cluster already
// has keeps its version). Documents deleted in the cluster stay deleted.
func Upload(ctx context.Context, from *storage.Store, to *jsstore.Store, log *slog.Logger) error {
	if b, err := from.NodeMeta(uploadedKey); err == nil && len(b) > 0 {
		return nil
	} else if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("reading the upload mark: %w", err)
	}
	metas, err := from.List("", 0)
	if err != nil {
		return fmt.Errorf("listing local documents: %w", err)
	}
	n := 0
	for _, m := range metas {
		ok, err := uploadDoc(ctx, from, to, m)
		if err != nil {
			return fmt.Errorf("uploading %s: %w", m.ID, err)
		}
		if ok {
			n++
		}
	}
	if err := from.SetNodeMeta(uploadedKey, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		return fmt.Errorf("marking the upload done: %w", err)
	}
	if len(metas) > 0 {
		log.Info("uploaded the data directory's documents into JetStream (merged with the cluster's copies)", "documents", n, "skipped", len(metas)-n)
	}
	return nil
}

// uploadDoc uploads one document; false if the cluster deleted it.
func uploadDoc(ctx context.Context, from *storage.Store, to *jsstore.Store, m storage.DocMeta) (bool, error) {
	chunks, err := from.Load(m.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	all := append(append([][]byte{}, chunks.Snapshots...), chunks.Incrementals...)
	for i, c := range all {
		n := 0
		if i == 0 {
			n = m.Changes // the count is per document here, not per chunk
		}
		if _, err := to.Append(ctx, m.ID, c, n); errors.Is(err, storage.ErrDeleted) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	vs, err := from.Versions(m.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return false, err
	}
	for _, v := range vs {
		if err := to.PutVersion(ctx, m.ID, v); err != nil && !errors.Is(err, storage.ErrExists) {
			return false, err
		}
	}
	return true, nil
}
