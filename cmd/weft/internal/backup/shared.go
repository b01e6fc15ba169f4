package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"github.com/weft-dev/weft/storage"
)

// Docs is what a backup reads of a store that is not a local bbolt file
// (a cluster's JetStream).
type Docs interface {
	StorageID() string
	List(after string, limit int) ([]storage.DocMeta, error)
	Load(docID string) (storage.Chunks, error)
	Versions(docID string) ([]storage.Version, error)
}

// SharedHandler serves GET /api/backup for a cluster: every document of
// docs (its chunks and named versions) copied into a fresh bbolt file in
// dir, the same format "weft serve --data" opens. Writes that land while
// the copy runs are in it or not, per document.
func SharedHandler(docs Docs, dir string) http.Handler {
	return handler(dir, docs.StorageID(), func(ctx context.Context, w io.Writer) (int64, error) {
		return copyShared(ctx, docs, dir, w)
	})
}

// copyShared copies docs into a temporary bbolt file and writes that file
// to w.
func copyShared(ctx context.Context, docs Docs, dir string, w io.Writer) (int64, error) {
	tmpDir, err := os.MkdirTemp(dir, ".weft-backup-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmpDir)
	dst, err := storage.Open(filepath.Join(tmpDir, "weft.db"), &storage.Options{NoSync: true})
	if err != nil {
		return 0, err
	}
	defer dst.Close()
	metas, err := docs.List("", 0)
	if err != nil {
		return 0, fmt.Errorf("listing documents: %w", err)
	}
	for _, m := range metas {
		if err := copyDoc(ctx, docs, dst, m); err != nil {
			return 0, fmt.Errorf("copying %s: %w", m.ID, err)
		}
	}
	return dst.WriteTo(w)
}

func copyDoc(ctx context.Context, docs Docs, dst *storage.Store, m storage.DocMeta) error {
	chunks, err := docs.Load(m.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // deleted meanwhile
	}
	if err != nil {
		return err
	}
	if _, err := dst.Append(ctx, m.ID, chunks.Concat(), m.Changes); err != nil {
		return err
	}
	vs, err := docs.Versions(m.ID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	for _, v := range vs {
		if err := dst.PutVersion(ctx, m.ID, v); err != nil {
			return err
		}
	}
	return nil
}
