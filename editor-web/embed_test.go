package editorweb

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

const (
	indexHTML   = `<!doctype html><title>weft</title><script type="module" src="/assets/main-abc123.js"></script>`
	exampleHTML = `<!doctype html><title>embed example</title>`
	mainJS      = `console.log("main")`
	embedJS     = `import "./assets/main-abc123.js"`
)

func gz(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := io.WriteString(w, s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// builtFS is a bundle as the Vite build leaves it: hashed assets, entry files, precompressed copies.
func builtFS(t *testing.T) fstest.MapFS {
	t.Helper()
	return fstest.MapFS{
		".gitkeep":                   {Data: nil},
		"index.html":                 {Data: []byte(indexHTML)},
		"index.html.gz":              {Data: gz(t, indexHTML)},
		"embed-example.html":         {Data: []byte(exampleHTML)},
		"embed.js":                   {Data: []byte(embedJS)},
		"sw.js":                      {Data: []byte(`self.x=1`)},
		"favicon.svg":                {Data: []byte(`<svg/>`)},
		"assets/main-abc123.js":      {Data: []byte(mainJS)},
		"assets/main-abc123.js.br":   {Data: []byte("BROTLI-BYTES")},
		"assets/main-abc123.js.gz":   {Data: gz(t, mainJS)},
		"assets/app-def456.css":      {Data: []byte(`body{}`)},
		"assets/automerge-0a1b.wasm": {Data: []byte("\x00asm\x01\x00\x00\x00")},
	}
}

func do(t *testing.T, h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRoutingAndCacheHeaders(t *testing.T) {
	h := newHandler(builtFS(t), Options{})
	tests := []struct {
		name        string
		path        string
		status      int
		body        string
		contentType string
		cache       string
	}{
		{"root is the app", "/", 200, indexHTML, "text/html; charset=utf-8", "no-cache"},
		{"index.html itself", "/index.html", 200, indexHTML, "text/html; charset=utf-8", "no-cache"},
		{"document route falls back to the app", "/d/4NMNnkMhL8jXrdJ9jamS58PAVdXu", 200, indexHTML, "text/html; charset=utf-8", "no-cache"},
		{"unknown route falls back to the app", "/some/where", 200, indexHTML, "text/html; charset=utf-8", "no-cache"},
		{"example page without .html", "/embed-example", 200, exampleHTML, "text/html; charset=utf-8", "no-cache"},
		{"hashed asset is immutable", "/assets/main-abc123.js", 200, mainJS, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"wasm has its MIME type", "/assets/automerge-0a1b.wasm", 200, "\x00asm\x01\x00\x00\x00", "application/wasm", "public, max-age=31536000, immutable"},
		{"css", "/assets/app-def456.css", 200, "body{}", "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"embed.js is revalidated (stable name)", "/embed.js", 200, embedJS, "text/javascript; charset=utf-8", "no-cache"},
		{"service worker is revalidated", "/sw.js", 200, "self.x=1", "text/javascript; charset=utf-8", "no-cache"},
		{"missing asset is a 404, not the app", "/assets/gone-000.js", 404, "", "", "no-cache"},
		{"missing file with extension is a 404", "/favicon.ico", 404, "", "", "no-cache"},
		{"gitkeep is not served", "/.gitkeep", 404, "", "", "no-cache"},
		{"path traversal stays inside", "/../../etc/passwd", 200, indexHTML, "text/html; charset=utf-8", "no-cache"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, tc.path, nil)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tc.status, rec.Body.String())
			}
			if got := rec.Header().Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.cache)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q", got)
			}
			if tc.status != 200 {
				return
			}
			if got := rec.Body.String(); got != tc.body {
				t.Errorf("body = %q, want %q", got, tc.body)
			}
			if got := rec.Header().Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if rec.Header().Get("ETag") == "" {
				t.Error("no ETag")
			}
		})
	}
}

func TestPrecompressedSelection(t *testing.T) {
	h := newHandler(builtFS(t), Options{})
	tests := []struct {
		name     string
		path     string
		accept   string
		encoding string
		body     string
	}{
		{"brotli preferred", "/assets/main-abc123.js", "gzip, deflate, br", "br", "BROTLI-BYTES"},
		{"gzip when brotli not accepted", "/assets/main-abc123.js", "gzip", "gzip", string(gz(t, mainJS))},
		{"brotli refused with q=0", "/assets/main-abc123.js", "br;q=0, gzip;q=0.5", "gzip", string(gz(t, mainJS))},
		{"wildcard", "/assets/main-abc123.js", "*", "br", "BROTLI-BYTES"},
		{"wildcard but not br", "/assets/main-abc123.js", "br;q=0, *;q=1", "gzip", string(gz(t, mainJS))},
		{"identity without the header", "/assets/main-abc123.js", "", "", mainJS},
		{"identity for unknown encodings", "/assets/main-abc123.js", "deflate, zstd", "", mainJS},
		{"gzip only where only gzip exists", "/d/abc", "br, gzip", "gzip", string(gz(t, indexHTML))},
		{"no variants, no encoding", "/assets/app-def456.css", "br, gzip", "", "body{}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(t, h, http.MethodGet, tc.path, map[string]string{"Accept-Encoding": tc.accept})
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Encoding"); got != tc.encoding {
				t.Errorf("Content-Encoding = %q, want %q", got, tc.encoding)
			}
			if got := rec.Body.String(); got != tc.body {
				t.Errorf("body = %q, want %q", got, tc.body)
			}
			hasVariants := tc.path != "/assets/app-def456.css"
			if got := rec.Header().Get("Vary") == "Accept-Encoding"; got != hasVariants {
				t.Errorf("Vary: Accept-Encoding present = %v, want %v", got, hasVariants)
			}
			// The type is the original file's, whatever the encoding.
			if ct := rec.Header().Get("Content-Type"); strings.Contains(ct, "gzip") || strings.Contains(ct, "brotli") {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}

	// Each representation has its own ETag, and a matching If-None-Match is a 304.
	br := do(t, h, http.MethodGet, "/assets/main-abc123.js", map[string]string{"Accept-Encoding": "br"})
	plain := do(t, h, http.MethodGet, "/assets/main-abc123.js", nil)
	if br.Header().Get("ETag") == plain.Header().Get("ETag") {
		t.Errorf("brotli and identity share ETag %s", br.Header().Get("ETag"))
	}
	again := do(t, h, http.MethodGet, "/assets/main-abc123.js", map[string]string{"Accept-Encoding": "br", "If-None-Match": br.Header().Get("ETag")})
	if again.Code != http.StatusNotModified {
		t.Errorf("revalidation status = %d, want 304", again.Code)
	}
}

func TestPageSecurityHeaders(t *testing.T) {
	t.Run("default frame policy", func(t *testing.T) {
		h := newHandler(builtFS(t), Options{})
		rec := do(t, h, http.MethodGet, "/d/xyz", nil)
		csp := rec.Header().Get("Content-Security-Policy")
		for _, want := range []string{
			"default-src 'self'",
			"script-src 'self' 'wasm-unsafe-eval'",
			"connect-src 'self' ws://example.com wss://example.com",
			"frame-ancestors 'self'",
			"object-src 'none'",
		} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "'unsafe-inline'") || strings.Contains(csp, "'unsafe-eval'") {
			t.Errorf("CSP allows inline code or eval: %q", csp)
		}
		if got := rec.Header().Get("X-Frame-Options"); got != "SAMEORIGIN" {
			t.Errorf("X-Frame-Options = %q", got)
		}
		if got := rec.Header().Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("Referrer-Policy = %q", got)
		}
	})
	t.Run("custom frame ancestors", func(t *testing.T) {
		h := newHandler(builtFS(t), Options{FrameAncestors: "'self' https://intranet.example.com"})
		rec := do(t, h, http.MethodGet, "/", nil)
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.HasSuffix(csp, "frame-ancestors 'self' https://intranet.example.com") {
			t.Errorf("CSP = %q", csp)
		}
		if got := rec.Header().Get("X-Frame-Options"); got != "" {
			t.Errorf("X-Frame-Options = %q, want none (it cannot express the allow-list)", got)
		}
	})
	t.Run("a value that would inject a directive is refused", func(t *testing.T) {
		h := newHandler(builtFS(t), Options{FrameAncestors: "* ; script-src *"})
		csp := do(t, h, http.MethodGet, "/", nil).Header().Get("Content-Security-Policy")
		if !strings.HasSuffix(csp, "frame-ancestors 'self'") || strings.Contains(csp, "script-src *") {
			t.Errorf("CSP = %q", csp)
		}
	})
	t.Run("a hostile Host header does not reach the CSP", func(t *testing.T) {
		h := newHandler(builtFS(t), Options{})
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = "evil.com; script-src *"
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if csp := rec.Header().Get("Content-Security-Policy"); strings.Contains(csp, "evil") {
			t.Errorf("CSP = %q", csp)
		}
	})
	t.Run("scripts and assets can be loaded by other sites", func(t *testing.T) {
		h := newHandler(builtFS(t), Options{})
		for _, p := range []string{"/embed.js", "/assets/main-abc123.js", "/assets/automerge-0a1b.wasm"} {
			rec := do(t, h, http.MethodGet, p, nil)
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("%s: Access-Control-Allow-Origin = %q", p, got)
			}
			if rec.Header().Get("Content-Security-Policy") != "" {
				t.Errorf("%s: a CSP on a non-page response", p)
			}
		}
		if got := do(t, h, http.MethodGet, "/", nil).Header().Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("page has Access-Control-Allow-Origin %q", got)
		}
	})
}

func TestMethods(t *testing.T) {
	h := newHandler(builtFS(t), Options{})
	head := do(t, h, http.MethodHead, "/assets/main-abc123.js", nil)
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != "19" {
		t.Errorf("HEAD: status %d, body %d bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
	post := do(t, h, http.MethodPost, "/", nil)
	if post.Code != http.StatusMethodNotAllowed || post.Header().Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: status %d, Allow %q", post.Code, post.Header().Get("Allow"))
	}
}

func TestNotBuilt(t *testing.T) {
	h := newHandler(fstest.MapFS{".gitkeep": {Data: nil}}, Options{})
	for _, p := range []string{"/", "/d/abc", "/assets/main-abc123.js", "/embed.js"} {
		rec := do(t, h, http.MethodGet, p, nil)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: status = %d, want 503", p, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "The editor bundle was not built") || !strings.Contains(rec.Body.String(), "make ui") {
			t.Errorf("%s: body does not say how to build: %q", p, rec.Body.String())
		}
		if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("%s: Content-Type = %q", p, ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s: Cache-Control = %q (a not-built page must not be cached)", p, cc)
		}
	}
}

// TestEmbeddedBundle checks the real embedded dist: it compiles with only .gitkeep, and when the
// bundle was built, its index.html is served.
func TestEmbeddedBundle(t *testing.T) {
	h := Handler(Options{})
	rec := do(t, h, http.MethodGet, "/", nil)
	if Built() {
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<div id=\"app\">") {
			t.Errorf("built bundle: status %d, body %.200q", rec.Code, rec.Body.String())
		}
		if sw := do(t, h, http.MethodGet, "/sw.js", nil); sw.Code != 200 {
			t.Errorf("sw.js: status %d", sw.Code)
		}
	} else if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("unbuilt bundle: status %d, want 503", rec.Code)
	}
}
