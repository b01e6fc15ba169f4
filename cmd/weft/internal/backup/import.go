package backup

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

// ---- import ----

// importResult is what merging one document did.
type importResult struct {
	status string // created, merged, unchanged
	heads  crdt.Heads
}

type importTarget interface {
	merge(ctx context.Context, id string, data []byte) (importResult, error)
	Close() error
}

// ImportOptions are what "weft import" was asked.
type ImportOptions struct {
	Source
	In     string // input tar file; "-" is Stdin
	Stdin  io.Reader
	Stderr io.Writer // progress and per-document failures
}

// Import merges every document of an export archive into o.Source.
func Import(ctx context.Context, o ImportOptions) error {
	if err := o.Check(); err != nil {
		return err
	}
	r := o.Stdin
	if o.In != "-" {
		f, err := os.Open(o.In)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var tgt importTarget
	if o.Data != "" {
		t, err := newOfflineTarget(o.Data)
		if err != nil {
			return err
		}
		tgt = t
	} else {
		tgt = &onlineTarget{a: newAPIClient(o.Source)}
	}
	defer tgt.Close()
	return runImport(ctx, tar.NewReader(bufio.NewReaderSize(r, 1<<20)), tgt, o.Stderr)
}

func runImport(ctx context.Context, tr *tar.Reader, tgt importTarget, stderr io.Writer) error {
	p := &progress{w: stderr, verb: "imported"}
	counts := map[string]int{}
	seen := map[string]string{} // id → sha256 of its file
	var failed []string
	var man *Manifest
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive after %d documents (truncated?): %w", p.n, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if hdr.Name == ManifestName {
			if man, err = readManifest(tr); err != nil {
				return err
			}
			continue
		}
		id, ok := strings.CutSuffix(hdr.Name, DocExt)
		if !ok {
			fmt.Fprintf(stderr, "weft import: skipping %q: not a %s file\n", hdr.Name, DocExt)
			continue
		}
		fail := func(err error) {
			failed = append(failed, id)
			fmt.Fprintf(stderr, "weft import: %s: %v\n", hdr.Name, err)
		}
		if !crdt.ValidDocumentID(id) {
			fail(errors.New("not a document id"))
			continue
		}
		if hdr.Size > maxImportDoc {
			fail(fmt.Errorf("%s is over the %s limit", fmtBytes(hdr.Size), fmtBytes(maxImportDoc)))
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return fmt.Errorf("reading %s (truncated?): %w", hdr.Name, err)
		}
		sum := sha256.Sum256(data)
		seen[id] = hex.EncodeToString(sum[:])
		res, err := tgt.merge(ctx, id, data)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fail(err)
			continue
		}
		counts[res.status]++
		p.add(1, int64(len(data)))
	}
	p.print()
	fmt.Fprintf(stderr, "%d created, %d merged, %d unchanged, %d failed\n", counts["created"], counts["merged"], counts["unchanged"], len(failed))
	errs := checkManifest(man, seen)
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("%d documents not imported: %s", len(failed), strings.Join(failed, ", ")))
	}
	return errors.Join(errs...)
}

// readManifest reads manifest.json from the archive's current entry.
func readManifest(r io.Reader) (*Manifest, error) {
	b, err := io.ReadAll(io.LimitReader(r, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ManifestName, err)
	}
	man := &Manifest{}
	if err := json.Unmarshal(b, man); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	return man, nil
}

// checkManifest compares what an import saw (id → sha256) with the
// archive's manifest (nil: the archive had none).
func checkManifest(man *Manifest, seen map[string]string) []error {
	if man == nil {
		return []error{fmt.Errorf("the archive has no %s: it is incomplete (what it held was imported)", ManifestName)}
	}
	var errs []error
	for _, d := range man.Documents {
		sum, ok := seen[d.ID]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: listed in the manifest, missing from the archive", d.ID))
		case sum != d.SHA256:
			errs = append(errs, fmt.Errorf("%s: its bytes do not match the manifest's checksum", d.ID))
		}
	}
	return errs
}

// offlineTarget merges into a data file directly. Every file is parsed
// and merged in a crdt worker process, never here: automerge-rs aborts its
// process on crafted input.
type offlineTarget struct {
	store *storage.Store
	pool  *crdt.Pool
}

func newOfflineTarget(data string) (*offlineTarget, error) {
	path := dataFile(data)
	st, err := storage.Open(path, &storage.Options{Timeout: offlineLockTO})
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%s is in use, probably by a running weft server: use --server URL --token T to import through it (%w)", path, err)
	}
	if err != nil {
		return nil, err
	}
	pool, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1, Logger: slog.New(slog.DiscardHandler),
		Local: crdt.LocalOptions{MaxDocument: 2 * maxImportDoc}})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &offlineTarget{store: st, pool: pool}, nil
}

func (t *offlineTarget) Close() error {
	t.pool.Shutdown()
	return t.store.Close()
}

func (t *offlineTarget) merge(ctx context.Context, id string, data []byte) (importResult, error) {
	var cur []byte
	chunks, err := t.store.Load(id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		return importResult{}, err
	default:
		cur = chunks.Concat()
	}
	if _, err := t.pool.Open(ctx, id, cur); err != nil {
		return importResult{}, fmt.Errorf("loading the stored document: %w", err)
	}
	defer t.pool.Close(context.WithoutCancel(ctx), id)
	res, err := t.pool.Merge(ctx, crdt.Merge{Doc: id, Data: data})
	if errors.Is(err, crdt.ErrCrashed) {
		return importResult{}, fmt.Errorf("the file crashed the Automerge engine (corrupt or crafted); nothing imported: %w", err)
	}
	if err != nil {
		return importResult{}, fmt.Errorf("not a valid Automerge file; nothing imported: %w", err)
	}
	if res.Waiting > 0 {
		return importResult{}, fmt.Errorf("%d changes lack their dependencies (incomplete file); nothing imported", res.Waiting)
	}
	out := importResult{status: "unchanged", heads: res.Heads}
	switch {
	case !res.Changed():
	case cur == nil:
		// A new document is stored as one snapshot, as compaction would.
		snap, err := t.pool.Save(ctx, id)
		if err != nil {
			return importResult{}, err
		}
		if err := t.store.Compact(ctx, id, snap, 0, res.NChanges); err != nil {
			return importResult{}, err
		}
		out.status = "created"
	default:
		if _, err := t.store.Append(ctx, id, res.Changes, res.NChanges); err != nil {
			return importResult{}, err
		}
		out.status = "merged"
	}
	return out, nil
}

// onlineTarget uploads through PUT /api/docs/{id}/binary, which merges
// in the server's isolated engine and updates connected clients.
type onlineTarget struct{ a *apiClient }

func (t *onlineTarget) Close() error { return nil }

func (t *onlineTarget) merge(ctx context.Context, id string, data []byte) (importResult, error) {
	resp, err := t.a.do(ctx, http.MethodPut, docPath(id), bytes.NewReader(data), "application/octet-stream")
	if err != nil {
		return importResult{}, err
	}
	defer resp.Body.Close()
	var body struct {
		Heads   crdt.Heads `json:"heads"`
		Changed *bool      `json:"changed"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return importResult{}, fmt.Errorf("PUT %s: decoding the answer: %w", docPath(id), err)
	}
	out := importResult{status: "merged", heads: body.Heads}
	switch {
	case resp.StatusCode == http.StatusCreated:
		out.status = "created"
	case body.Changed != nil && !*body.Changed:
		out.status = "unchanged"
	}
	return out, nil
}
