package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weft-dev/weft/storage"
)

const (
	ManifestName  = "manifest.json"
	DocExt        = ".automerge"
	Format        = "weft-export/1"
	maxImportDoc  = 256 << 20 // the engine's default MaxDocument
	offlineLockTO = time.Second
	// HeaderSHA256 carries the hex SHA-256 of a backup body.
	HeaderSHA256 = "X-Weft-Backup-Sha256"
	// progressEvery throttles progress lines on stderr.
	progressEvery = time.Second
)

// Manifest is manifest.json.
type Manifest struct {
	Format    string        `json:"format"`
	Version   string        `json:"weftVersion"`
	Created   time.Time     `json:"created"`
	Source    string        `json:"source"`
	StorageID string        `json:"storageId,omitempty"`
	Documents []ManifestDoc `json:"documents"`
	Bytes     int64         `json:"bytes"`
}

type ManifestDoc struct {
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

// Source is the other side of a command: a stopped node's data file
// (Data) or a running node's HTTP API (Server, with Token).
type Source struct {
	Data, Server, Token string
}

// Check requires exactly one of Data and Server, and a usable URL.
func (c *Source) Check() error {
	if (c.Data == "") == (c.Server == "") {
		return errors.New("give exactly one of --data DIR and --server URL")
	}
	if c.Server != "" {
		u, err := url.Parse(c.Server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--server %q: want http://host:port or https://host", c.Server)
		}
		c.Server = strings.TrimRight(c.Server, "/")
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

func newAPIClient(c Source) *apiClient {
	// No overall timeout: backups and large documents take their time;
	// the command's context (signals) bounds everything.
	return &apiClient{base: c.Server, token: c.Token, hc: &http.Client{}}
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
