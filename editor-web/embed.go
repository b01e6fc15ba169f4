package editorweb

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Options configures Handler. The zero value is ready to use.
type Options struct {
	// Logger receives warnings (bundle not built, a bad FrameAncestors value). Nil discards them.
	Logger *slog.Logger
	// FrameAncestors is the CSP frame-ancestors source list for the editor's pages, for example
	// "'self' https://intranet.example.com". Empty means 'self': only pages of this server may
	// frame the editor.
	FrameAncestors string
}

// Handler serves the built editor from the embedded dist directory (see the package comment).
func Handler(opts Options) http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // "dist" is a valid, constant path: cannot happen
	}
	return newHandler(sub, opts)
}

// Built reports whether the editor bundle was built into this binary (dist/index.html exists).
func Built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}

const (
	cacheImmutable  = "public, max-age=31536000, immutable"
	cacheRevalidate = "no-cache"
)

// encodings in order of preference, with the suffix of their precompressed files.
var encodings = []struct{ name, suffix string }{{"br", ".br"}, {"gzip", ".gz"}}

// variant is one stored representation of a file: identity, or a precompressed copy.
type variant struct {
	path string // in the file system
	etag string
	size int64
}

type asset struct {
	contentType string
	identity    variant
	encoded     map[string]variant // by encoding name
}

type handler struct {
	fsys           fs.FS
	assets         map[string]*asset // by clean path without leading slash
	built          bool
	frameAncestors string
	log            *slog.Logger
}

// newHandler indexes fsys (the contents of dist) and returns the handler; tests pass an fstest.MapFS.
func newHandler(fsys fs.FS, opts Options) *handler {
	h := &handler{fsys: fsys, assets: map[string]*asset{}, log: opts.Logger}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.frameAncestors = "'self'"
	if fa := strings.TrimSpace(opts.FrameAncestors); fa != "" {
		if strings.ContainsAny(fa, ";,\r\n") {
			h.log.Warn("editorweb: ignoring invalid FrameAncestors; using 'self'", "value", fa)
		} else {
			h.frameAncestors = fa
		}
	}

	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		h.log.Error("editorweb: reading the embedded bundle", "err", err)
	}
	present := map[string]bool{}
	for _, n := range names {
		present[n] = true
	}
	sort.Strings(names)
	for _, n := range names {
		if isVariant(n, present) || path.Base(n) == ".gitkeep" {
			continue
		}
		a := &asset{contentType: contentType(n), encoded: map[string]variant{}}
		a.identity = h.variant(n, "")
		for _, e := range encodings {
			if present[n+e.suffix] {
				a.encoded[e.name] = h.variant(n+e.suffix, e.name)
			}
		}
		h.assets[n] = a
	}
	_, h.built = h.assets["index.html"]
	if !h.built {
		h.log.Warn("editorweb: the editor bundle was not built; pages answer 503 (run make ui)")
	}
	return h
}

// isVariant reports whether n is a precompressed copy of another file in the bundle.
func isVariant(n string, present map[string]bool) bool {
	for _, e := range encodings {
		if strings.HasSuffix(n, e.suffix) && present[strings.TrimSuffix(n, e.suffix)] {
			return true
		}
	}
	return false
}

func (h *handler) variant(p, encoding string) variant {
	v := variant{path: p}
	f, err := h.fsys.Open(p)
	if err != nil {
		h.log.Error("editorweb: opening a bundle file", "path", p, "err", err)
		return v
	}
	defer f.Close()
	sum := sha256.New()
	n, err := io.Copy(sum, f)
	if err != nil {
		h.log.Error("editorweb: reading a bundle file", "path", p, "err", err)
	}
	v.size = n
	tag := hex.EncodeToString(sum.Sum(nil)[:12])
	if encoding != "" {
		tag += "-" + encoding
	}
	v.etag = `"` + tag + `"`
	return v
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	if !h.built {
		h.notBuilt(w, r)
		return
	}

	name, a := h.lookup(r.URL.Path)
	if a == nil {
		hdr.Set("Cache-Control", cacheRevalidate)
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}

	if strings.HasPrefix(name, "assets/") {
		hdr.Set("Cache-Control", cacheImmutable)
	} else {
		hdr.Set("Cache-Control", cacheRevalidate)
	}
	if strings.HasPrefix(name, "assets/") || name == "embed.js" {
		// Other sites load <weft-editor> from here: module scripts, its wasm and its CSS are
		// fetched in CORS mode.
		hdr.Set("Access-Control-Allow-Origin", "*")
		hdr.Set("Cross-Origin-Resource-Policy", "cross-origin")
	}
	if strings.HasPrefix(a.contentType, "text/html") {
		h.pageHeaders(hdr, r)
	}
	hdr.Set("Content-Type", a.contentType)

	v := a.identity
	if len(a.encoded) > 0 {
		hdr.Add("Vary", "Accept-Encoding")
		if enc := negotiate(r.Header.Get("Accept-Encoding"), a.encoded); enc != "" {
			v = a.encoded[enc]
			hdr.Set("Content-Encoding", enc)
		}
	}
	hdr.Set("ETag", v.etag)

	f, err := h.fsys.Open(v.path)
	if err != nil {
		h.log.Error("editorweb: opening a bundle file", "path", v.path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		data, err := io.ReadAll(f)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		rs = strings.NewReader(string(data))
	}
	http.ServeContent(w, r, "", time.Time{}, rs)
}

// lookup maps a request path to a bundle file: the file itself, name.html (/embed-example), or
// index.html for app routes (paths without an extension). It returns nil for unknown files, so
// a missing /assets/x.js is a 404 and never HTML that a browser would try to run.
func (h *handler) lookup(urlPath string) (string, *asset) {
	name := strings.TrimPrefix(path.Clean("/"+urlPath), "/")
	if name == "" {
		name = "index.html"
	}
	if a := h.assets[name]; a != nil {
		return name, a
	}
	if a := h.assets[name+".html"]; a != nil {
		return name + ".html", a
	}
	if strings.HasPrefix(name, "assets/") || path.Ext(name) != "" {
		return name, nil
	}
	return "index.html", h.assets["index.html"]
}

// negotiate picks the preferred encoding that the client accepts (q > 0) and that has a variant.
func negotiate(accept string, have map[string]variant) string {
	if accept == "" {
		return ""
	}
	q := map[string]float64{}
	for _, part := range strings.Split(accept, ",") {
		token, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		token = strings.ToLower(strings.TrimSpace(token))
		weight := 1.0
		for _, p := range strings.Split(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					weight = f
				}
			}
		}
		q[token] = weight
	}
	for _, e := range encodings {
		if _, ok := have[e.name]; !ok {
			continue
		}
		w, listed := q[e.name]
		if !listed {
			w, listed = q["*"]
		}
		if listed && w > 0 {
			return e.name
		}
	}
	return ""
}

// pageHeaders sets the security headers of an HTML page.
func (h *handler) pageHeaders(hdr http.Header, r *http.Request) {
	connect := "'self'"
	if host := r.Host; validHost(host) {
		// Older browsers do not let 'self' cover ws: and wss: on the same host.
		connect += " ws://" + host + " wss://" + host
	}
	hdr.Set("Content-Security-Policy", strings.Join([]string{
		"default-src 'self'",
		// Automerge is WebAssembly: compiling it needs 'wasm-unsafe-eval' (not 'unsafe-eval').
		"script-src 'self' 'wasm-unsafe-eval'",
		"style-src 'self'",
		"img-src 'self' data: https:",
		"font-src 'self'",
		"connect-src " + connect,
		"worker-src 'self'",
		"manifest-src 'self'",
		"object-src 'none'",
		"base-uri 'self'",
		"form-action 'self'",
		"frame-ancestors " + h.frameAncestors,
	}, "; "))
	if h.frameAncestors == "'self'" {
		hdr.Set("X-Frame-Options", "SAMEORIGIN") // for browsers without CSP frame-ancestors
	}
	// Document links are capabilities (anyone with one can edit): never send them to other sites.
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
}

// validHost accepts host[:port] made of the characters a Host header may carry, so it can be put
// into a CSP source without breaking out of it.
func validHost(host string) bool {
	if host == "" || len(host) > 255 {
		return false
	}
	for _, c := range host {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".wasm":
		return "application/wasm" // WebAssembly.instantiateStreaming requires exactly this
	case ".svg":
		return "image/svg+xml"
	case ".json", ".map":
		return "application/json"
	case ".webmanifest":
		return "application/manifest+json"
	case ".txt":
		return "text/plain; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

const notBuiltPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>weft: editor not built</title>
<style>body{font:16px/1.55 system-ui,sans-serif;color:#1f2328;max-width:36rem;margin:18vh auto;padding:0 1.25rem}
h1{font-size:1.5rem;margin:0 0 .5rem}code{background:#f3f4f6;border-radius:5px;padding:.1em .35em}p{color:#57606a}</style></head>
<body><h1>The editor bundle was not built</h1>
<p>This weft binary was compiled before the browser editor was built, so there is no page to show.
The sync server itself is running: clients can still connect over WebSocket.</p>
<p>Build it and start again: run <code>make ui</code> (or <code>make run</code>, which builds everything).</p>
</body></html>
`

func (h *handler) notBuilt(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors "+h.frameAncestors)
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method != http.MethodHead {
		fmt.Fprint(w, notBuiltPage)
	}
}
