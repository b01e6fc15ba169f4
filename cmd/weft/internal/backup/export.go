package backup

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/weft-dev/weft/storage"
)

// ---- export ----

// ExportOptions are what "weft export" was asked.
type ExportOptions struct {
	Source
	Docs    []string // only these documents; none: every document
	Out     string   // output tar file; "-" is Stdout
	Force   bool     // replace Out if it exists
	Version string   // weft's version, for the manifest
	Stdout  io.Writer
	Stderr  io.Writer // progress
}

// Export writes the documents of o.Source to a tar archive, the manifest
// last. A file output appears complete or not at all.
func Export(ctx context.Context, o ExportOptions) (err error) {
	if err := o.Check(); err != nil {
		return err
	}
	var w io.Writer = o.Stdout
	var of *outFile
	if o.Out != "-" {
		if of, err = createOut(o.Out, o.Force); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				of.abort()
			}
		}()
		w = of.f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	ex := &exporter{tw: tar.NewWriter(bw), p: &progress{w: o.Stderr, verb: "exported"},
		m: Manifest{Format: Format, Version: o.Version, Created: time.Now().UTC(), Documents: []ManifestDoc{}}}
	if o.Data != "" {
		err = ex.offline(ctx, o.Data, o.Docs)
	} else {
		err = ex.online(ctx, newAPIClient(o.Source), o.Docs)
	}
	if err != nil {
		return err
	}
	if err := ex.finish(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	if of != nil {
		if err := of.commit(); err != nil {
			return err
		}
	}
	ex.p.print()
	return nil
}

type exporter struct {
	tw *tar.Writer
	p  *progress
	m  Manifest
}

func (ex *exporter) add(md ManifestDoc, data []byte, mod time.Time) error {
	if mod.IsZero() {
		mod = ex.m.Created
	}
	sum := sha256.Sum256(data)
	md.File, md.Size, md.SHA256 = md.ID+DocExt, int64(len(data)), hex.EncodeToString(sum[:])
	hdr := &tar.Header{Name: md.File, Mode: 0o644, Size: md.Size, ModTime: mod, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := ex.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	if _, err := ex.tw.Write(data); err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	ex.m.Documents = append(ex.m.Documents, md)
	ex.m.Bytes += md.Size
	ex.p.add(1, md.Size)
	return nil
}

// finish writes the manifest, last, and closes the tar stream.
func (ex *exporter) finish() error {
	b, err := json.MarshalIndent(ex.m, "", "  ")
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: ManifestName, Mode: 0o644, Size: int64(len(b)), ModTime: ex.m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := ex.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	if _, err := ex.tw.Write(b); err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	if err := ex.tw.Close(); err != nil {
		return fmt.Errorf("writing the archive: %w", err)
	}
	return nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (ex *exporter) offline(ctx context.Context, data string, only []string) error {
	st, err := openOffline(data)
	if err != nil {
		return err
	}
	defer st.Close()
	ex.m.Source, ex.m.StorageID = st.Path(), st.StorageID()
	var metas []storage.DocMeta
	if len(only) > 0 {
		for _, id := range only {
			m, err := st.Meta(id)
			if err != nil {
				return fmt.Errorf("document %s: %w", id, err)
			}
			metas = append(metas, m)
		}
	} else if metas, err = st.List("", 0); err != nil {
		return err
	}
	ex.p.total = len(metas)
	for _, m := range metas {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunks, err := st.Load(m.ID)
		if errors.Is(err, storage.ErrNotFound) {
			continue // a document without chunks: nothing to export
		}
		if err != nil {
			return fmt.Errorf("document %s: %w", m.ID, err)
		}
		md := ManifestDoc{ID: m.ID, Changes: m.Changes, Created: timePtr(m.Created), Updated: timePtr(m.Updated)}
		if err := ex.add(md, chunks.Concat(), m.Updated); err != nil {
			return err
		}
	}
	return nil
}

func (ex *exporter) online(ctx context.Context, a *apiClient, only []string) error {
	ex.m.Source = a.base
	one := func(d apiDoc) error {
		resp, err := a.do(ctx, http.MethodGet, docPath(d.ID), nil, "")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("GET %s: %w", docPath(d.ID), err)
		}
		md := ManifestDoc{ID: d.ID, Changes: d.Changes, Created: timePtr(d.Created), Updated: timePtr(d.Updated)}
		md.Heads = resp.Header.Get("X-Weft-Heads")
		return ex.add(md, b, d.Updated)
	}
	if len(only) > 0 {
		ex.p.total = len(only)
		for _, id := range only {
			if err := one(apiDoc{ID: id}); err != nil {
				return err
			}
		}
		return nil
	}
	cursor := ""
	for {
		docs, next, total, err := a.listPage(ctx, cursor)
		if err != nil {
			return err
		}
		ex.p.total = total
		for _, d := range docs {
			if err := one(d); err != nil {
				return err
			}
		}
		if next == "" || len(docs) == 0 {
			return nil
		}
		cursor = next
	}
}
