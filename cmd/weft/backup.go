package main

// weft export, weft import and weft backup, and the handler behind
// GET /api/backup.
//
// An export is a tar stream: one entry "<documentId>.automerge" per
// document (its stored chunks concatenated: a valid Automerge file that
// Automerge.load reads), then "manifest.json" (see exportManifest), last,
// so that an import can tell a complete archive from a truncated one.
// Import merges each file into the target's document, so importing twice,
// or into a node that already has the documents, is harmless.
//
// A backup is a copy of the whole bbolt file, consistent as of one read
// transaction (bbolt Tx.WriteTo), which `weft serve --data` opens as is.
//
// --data works on a data directory (or its weft.db) that no server holds;
// --server talks to a running node through its HTTP API.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage"
)

const (
	manifestName  = "manifest.json"
	docExt        = ".automerge"
	exportFormat  = "weft-export/1"
	maxImportDoc  = 256 << 20 // the engine's default MaxDocument
	offlineLockTO = time.Second
	// headerBackupSHA256 carries the hex SHA-256 of a backup body.
	headerBackupSHA256 = "X-Weft-Backup-Sha256"
	// progressEvery throttles progress lines on stderr.
	progressEvery = time.Second
)

// exportManifest is manifest.json.
type exportManifest struct {
	Format    string        `json:"format"`
	Version   string        `json:"weftVersion"`
	Created   time.Time     `json:"created"`
	Source    string        `json:"source"`
	StorageID string        `json:"storageId,omitempty"`
	Documents []manifestDoc `json:"documents"`
	Bytes     int64         `json:"bytes"`
}

type manifestDoc struct {
	ID      string     `json:"id"`
	File    string     `json:"file"`
	Size    int64      `json:"size"`
	SHA256  string     `json:"sha256"`
	Changes int        `json:"changes,omitempty"`
	Created *time.Time `json:"created,omitempty"`
	Updated *time.Time `json:"updated,omitempty"`
	// Heads when the source reports them cheaply (a server's X-Weft-Heads),
	// comma-separated hex as everywhere in the API.
	Heads string `json:"heads,omitempty"`
}

// connFlags are the flags that pick the other side: a data file or a server.
type connFlags struct {
	data, server, token string
}

func (c *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.data, "data", "", "data directory (or its weft.db) of a stopped node")
	fs.StringVar(&c.server, "server", "", "URL of a running node (http://host:port)")
	fs.StringVar(&c.token, "token", os.Getenv("WEFT_TOKEN"), "bearer token for --server (default $WEFT_TOKEN)")
}

// parse parses a subcommand's arguments (flags only) and checks the
// connection flags.
func (c *connFlags) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return c.check()
}

func (c *connFlags) check() error {
	if (c.data == "") == (c.server == "") {
		return errors.New("give exactly one of --data DIR and --server URL")
	}
	if c.server != "" {
		u, err := url.Parse(c.server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--server %q: want http://host:port or https://host", c.server)
		}
		c.server = strings.TrimRight(c.server, "/")
	}
	return nil
}

// dataFile resolves --data as serve does: a data directory holding
// weft.db, unless it names an existing file or a path ending in .db.
func dataFile(p string) string {
	if st, err := os.Stat(p); (err == nil && !st.IsDir()) || (err != nil && strings.HasSuffix(p, ".db")) {
		return p
	}
	return filepath.Join(p, "weft.db")
}

// openOffline opens a data file read-only, explaining the lock.
func openOffline(p string) (*storage.Store, error) {
	path := dataFile(p)
	st, err := storage.OpenReadOnly(path, &storage.Options{Timeout: offlineLockTO})
	if errors.Is(err, storage.ErrLocked) {
		return nil, fmt.Errorf("%s is in use, probably by a running weft server: use --server URL --token T to go through it instead (%w)", path, err)
	}
	return st, err
}

// ---- client of the HTTP API ----

type apiClient struct {
	base, token string
	hc          *http.Client
}

func newAPIClient(c connFlags) *apiClient {
	// No overall timeout: backups and large documents take their time;
	// the command's context (signals) bounds everything.
	return &apiClient{base: c.server, token: c.token, hc: &http.Client{}}
}

// do sends a request and returns the response of a 2xx; other statuses
// become errors carrying the API's {"error":{"code","message"}}.
func (a *apiClient) do(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return nil, err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Code + ": " + e.Error.Message
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		msg += " (check --token or $WEFT_TOKEN)"
	}
	return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, msg)
}

// apiDoc is one entry of GET /api/docs.
type apiDoc struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Size    int64     `json:"size"`
	Changes int       `json:"changes"`
}

func (a *apiClient) listPage(ctx context.Context, cursor string) ([]apiDoc, string, int, error) {
	q := url.Values{"limit": {"100"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	resp, err := a.do(ctx, http.MethodGet, "/api/docs?"+q.Encode(), nil, "")
	if err != nil {
		return nil, "", 0, err
	}
	defer resp.Body.Close()
	var page struct {
		Docs  []apiDoc `json:"docs"`
		Next  string   `json:"next"`
		Total int      `json:"total"` // optional
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, "", 0, fmt.Errorf("GET /api/docs: decoding the answer: %w", err)
	}
	return page.Docs, page.Next, page.Total, nil
}

func docPath(id string) string { return "/api/docs/" + url.PathEscape(id) + "/binary" }

// ---- progress ----

type progress struct {
	w     io.Writer
	verb  string
	total int // 0: unknown
	n     int
	bytes int64
	last  time.Time
}

func (p *progress) add(n int, b int64) {
	p.n += n
	p.bytes += b
	if time.Since(p.last) >= progressEvery {
		p.print()
	}
}

func (p *progress) print() {
	p.last = time.Now()
	if p.total > 0 {
		fmt.Fprintf(p.w, "%s %d/%d documents, %s\n", p.verb, p.n, p.total, fmtBytes(p.bytes))
		return
	}
	fmt.Fprintf(p.w, "%s %d documents, %s\n", p.verb, p.n, fmtBytes(p.bytes))
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// docList collects repeated --doc flags.
type docList []string

func (d *docList) String() string     { return strings.Join(*d, ",") }
func (d *docList) Set(v string) error { *d = append(*d, v); return nil }

// ---- output files: written aside, renamed into place when complete ----

type outFile struct {
	f    *os.File
	path string
}

func createOut(path string, force bool) (*outFile, error) {
	if !force {
		if _, err := os.Stat(path); err == nil {
			return nil, fmt.Errorf("%s exists (use --force to replace it)", path)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".partial-*")
	if err != nil {
		return nil, err
	}
	return &outFile{f: f, path: path}, nil
}

// commit syncs and renames the file into place.
func (o *outFile) commit() error {
	if err := o.f.Sync(); err != nil {
		o.abort()
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	if err := o.f.Close(); err != nil {
		os.Remove(o.f.Name())
		return fmt.Errorf("writing %s: %w", o.path, err)
	}
	if err := os.Rename(o.f.Name(), o.path); err != nil {
		os.Remove(o.f.Name())
		return err
	}
	return nil
}

func (o *outFile) abort() {
	o.f.Close()
	os.Remove(o.f.Name())
}

// ---- export ----

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("weft export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c connFlags
	c.register(fs)
	var docs docList
	fs.Var(&docs, "doc", "export only this document (repeatable); default: every document")
	out := fs.String("o", "-", "output tar file; - is stdout")
	force := fs.Bool("force", false, "replace the output file if it exists")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	var w io.Writer = stdout
	var of *outFile
	if *out != "-" {
		if of, err = createOut(*out, *force); err != nil {
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
	ex := &exporter{tw: tar.NewWriter(bw), p: &progress{w: stderr, verb: "exported"},
		m: exportManifest{Format: exportFormat, Version: version, Created: time.Now().UTC(), Documents: []manifestDoc{}}}
	if c.data != "" {
		err = ex.offline(ctx, c.data, docs)
	} else {
		err = ex.online(ctx, newAPIClient(c), docs)
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
	m  exportManifest
}

func (ex *exporter) add(md manifestDoc, data []byte, mod time.Time) error {
	if mod.IsZero() {
		mod = ex.m.Created
	}
	sum := sha256.Sum256(data)
	md.File, md.Size, md.SHA256 = md.ID+docExt, int64(len(data)), hex.EncodeToString(sum[:])
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
	hdr := &tar.Header{Name: manifestName, Mode: 0o644, Size: int64(len(b)), ModTime: ex.m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
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
		md := manifestDoc{ID: m.ID, Changes: m.Changes, Created: timePtr(m.Created), Updated: timePtr(m.Updated)}
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
		md := manifestDoc{ID: d.ID, Changes: d.Changes, Created: timePtr(d.Created), Updated: timePtr(d.Updated)}
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

func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("weft import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c connFlags
	c.register(fs)
	in := fs.String("i", "-", "input tar file (from weft export); - is stdin")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	r := io.Reader(os.Stdin)
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var tgt importTarget
	if c.data != "" {
		t, err := newOfflineTarget(c.data)
		if err != nil {
			return err
		}
		tgt = t
	} else {
		tgt = &onlineTarget{a: newAPIClient(c)}
	}
	defer tgt.Close()
	return runImport(ctx, tar.NewReader(bufio.NewReaderSize(r, 1<<20)), tgt, stderr)
}

func runImport(ctx context.Context, tr *tar.Reader, tgt importTarget, stderr io.Writer) error {
	p := &progress{w: stderr, verb: "imported"}
	counts := map[string]int{}
	seen := map[string]string{} // id → sha256 of its file
	var failed []string
	var man *exportManifest
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
		if hdr.Name == manifestName {
			b, err := io.ReadAll(io.LimitReader(tr, 256<<20))
			if err != nil {
				return fmt.Errorf("reading %s: %w", manifestName, err)
			}
			man = &exportManifest{}
			if err := json.Unmarshal(b, man); err != nil {
				return fmt.Errorf("%s: %w", manifestName, err)
			}
			continue
		}
		id, ok := strings.CutSuffix(hdr.Name, docExt)
		if !ok {
			fmt.Fprintf(stderr, "weft import: skipping %q: not a %s file\n", hdr.Name, docExt)
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
	var errs []error
	if man == nil {
		errs = append(errs, fmt.Errorf("the archive has no %s: it is incomplete (what it held was imported)", manifestName))
	} else {
		for _, d := range man.Documents {
			sum, ok := seen[d.ID]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s: listed in the manifest, missing from the archive", d.ID))
			case sum != d.SHA256:
				errs = append(errs, fmt.Errorf("%s: its bytes do not match the manifest's checksum", d.ID))
			}
		}
	}
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("%d documents not imported: %s", len(failed), strings.Join(failed, ", ")))
	}
	return errors.Join(errs...)
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

// ---- backup ----

// backupHandler serves a consistent copy of the whole data file (GET
// /api/backup; admins only). The copy is made in one bbolt read
// transaction into a temporary file next to the data file, then sent:
// holding the transaction for a slow download would stall the server's
// commits whenever bbolt must grow its memory map. One backup runs at a
// time (429 otherwise). The body's SHA-256 is in X-Weft-Backup-Sha256.
func backupHandler(store *storage.Store) http.Handler {
	busy := make(chan struct{}, 1)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
			return
		}
		select {
		case busy <- struct{}{}:
			defer func() { <-busy }()
		default:
			w.Header().Set("Retry-After", "10")
			writeError(w, http.StatusTooManyRequests, "busy", "a backup is already running; try again later")
			return
		}
		tmp, err := os.CreateTemp(filepath.Dir(store.Path()), ".weft-backup-*.db")
		if err != nil {
			writeError(w, http.StatusInternalServerError, "backup_failed", "cannot create the temporary copy: "+err.Error())
			return
		}
		defer func() {
			tmp.Close()
			os.Remove(tmp.Name())
		}()
		sum := sha256.New()
		n, err := store.WriteTo(io.MultiWriter(tmp, sum))
		if err == nil {
			_, err = tmp.Seek(0, io.SeekStart)
		}
		if err != nil {
			writeError(w, http.StatusInternalServerError, "backup_failed", err.Error())
			return
		}
		name := "weft-backup-" + time.Now().UTC().Format("20060102T150405Z") + ".db"
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		h.Set("Content-Length", strconv.FormatInt(n, 10))
		h.Set("Cache-Control", "no-store")
		h.Set("X-Weft-Storage-Id", store.StorageID())
		h.Set(headerBackupSHA256, hex.EncodeToString(sum.Sum(nil)))
		w.WriteHeader(http.StatusOK)
		io.Copy(w, tmp) // a broken download shows as a short body: the client checks length and sum
	})
}

func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("weft backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c connFlags
	c.register(fs)
	out := fs.String("o", "weft-backup.db", "output file (a bbolt file: weft serve --data opens its directory)")
	force := fs.Bool("force", false, "replace the output file if it exists")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	of, err := createOut(*out, *force)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			of.abort()
		}
	}()
	cw := &countWriter{w: of.f, p: stderr}
	if c.data != "" {
		st, err := openOffline(c.data)
		if err != nil {
			return err
		}
		_, err = st.WriteTo(cw)
		st.Close()
		if err != nil {
			return err
		}
	} else {
		resp, err := newAPIClient(c).do(ctx, http.MethodGet, "/api/backup", nil, "")
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
		if want := resp.Header.Get(headerBackupSHA256); want != "" && want != hex.EncodeToString(sum.Sum(nil)) {
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
	fmt.Fprintf(stderr, "backup: %s, %s, %d documents, verified\n", *out, fmtBytes(cw.n), docs)
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
