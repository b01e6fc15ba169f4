package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/weft-dev/weft/cmd/weft/internal/httpjson"
	"github.com/weft-dev/weft/storage"
)

// ---- backup ----

// Handler serves a consistent copy of the whole data file (GET
// /api/backup; admins only). The copy is made in one bbolt read
// transaction into a temporary file next to the data file, then sent:
// holding the transaction for a slow download would stall the server's
// commits whenever bbolt must grow its memory map. One backup runs at a
// time (429 otherwise). The body's SHA-256 is in X-Weft-Backup-Sha256.
func Handler(store *storage.Store) http.Handler {
	return handler(filepath.Dir(store.Path()), store.StorageID(), func(_ context.Context, w io.Writer) (int64, error) {
		return store.WriteTo(w)
	})
}

// handler serves what write writes, copied first into a temporary file in
// dir, under storage id id.
func handler(dir, id string, write func(context.Context, io.Writer) (int64, error)) http.Handler {
	busy := make(chan struct{}, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			httpjson.Error(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
			return
		}
		select {
		case busy <- struct{}{}:
			defer func() { <-busy }()
		default:
			w.Header().Set("Retry-After", "10")
			httpjson.Error(w, http.StatusTooManyRequests, "busy", "a backup is already running; try again later")
			return
		}
		tmp, err := os.CreateTemp(dir, ".weft-backup-*.db")
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "backup_failed", "cannot create the temporary copy: "+err.Error())
			return
		}
		defer func() {
			tmp.Close()
			os.Remove(tmp.Name())
		}()
		sum := sha256.New()
		n, err := write(r.Context(), io.MultiWriter(tmp, sum))
		if err == nil {
			_, err = tmp.Seek(0, io.SeekStart)
		}
		if err != nil {
			httpjson.Error(w, http.StatusInternalServerError, "backup_failed", err.Error())
			return
		}
		name := "weft-backup-" + time.Now().UTC().Format("20060102T150405Z") + ".db"
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		h.Set("Content-Length", strconv.FormatInt(n, 10))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Weft-Storage-Id", id)
		h.Set(HeaderSHA256, hex.EncodeToString(sum.Sum(nil)))
		w.WriteHeader(http.StatusOK)
		io.Copy(w, tmp) // a broken download shows as a short body: the client checks length and sum
	})
}

// Options are what "weft backup" was asked.
type Options struct {
	Source
	Out    string // output file
	Force  bool   // replace Out if it exists
	Stderr io.Writer
}

// Backup copies the whole data file of o.Source into o.Out, checks the
// copy, and only then renames it into place.
func Backup(ctx context.Context, o Options) (err error) {
	if err := o.Check(); err != nil {
		return err
	}
	of, err := createOut(o.Out, o.Force)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			of.abort()
		}
	}()
	cw := &countWriter{w: of.f, p: o.Stderr}
	if o.Data != "" {
		st, err := openOffline(o.Data)
		if err != nil {
			return err
		}
		_, err = st.WriteTo(cw)
		st.Close()
		if err != nil {
			return err
		}
	} else {
		resp, err := newAPIClient(o.Source).do(ctx, http.MethodGet, "/api/backup", nil, "")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		sum := sha256.New()
		n, err := io.Copy(io.MultiWriter(cw, sum), resp.Body)
		if err != nil {
			return fmt.Errorf("downloading the backup after %s: %w", fmtBytes(n), err)
		}
		if resp.ContentLength >= 0 && n != resp.ContentLength {
			return fmt.Errorf("backup truncated: %d of %d bytes", n, resp.ContentLength)
		}
		if want := resp.Header.Get(HeaderSHA256); want != "" && want != hex.EncodeToString(sum.Sum(nil)) {
			return errors.New("backup corrupted in transit: SHA-256 mismatch")
		}
	}
	// Prove the copy before calling it a backup.
	docs, err := verifyBackup(of.f.Name())
	if err != nil {
		return fmt.Errorf("the backup does not verify: %w", err)
	}
	if err := of.commit(); err != nil {
		return err
	}
	fmt.Fprintf(o.Stderr, "backup: %s, %s, %d documents, verified\n", o.Out, fmtBytes(cw.n), docs)
	return nil
}

// verifyBackup opens a backup file, runs bbolt's consistency check and
// counts its documents.
func verifyBackup(path string) (int, error) {
	st, err := storage.OpenReadOnly(path, &storage.Options{Timeout: offlineLockTO})
	if err != nil {
		return 0, err
	}
	defer st.Close()
	if err := st.Check(); err != nil {
		return 0, err
	}
	metas, err := st.List("", 0)
	return len(metas), err
}

// countWriter counts bytes and reports them on p every progressEvery.
type countWriter struct {
	w    io.Writer
	p    io.Writer
	n    int64
	last time.Time
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	if time.Since(c.last) >= progressEvery {
		c.last = time.Now()
		fmt.Fprintf(c.p, "backup: %s\n", fmtBytes(c.n))
	}
	return n, err
}
