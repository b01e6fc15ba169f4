// Package editorweb serves weft's browser editor: the Vite build in dist/, embedded into the
// binary with go:embed, so one executable serves the sync protocol and the page that speaks it.
//
// Handler serves the built files:
//
//   - hashed assets under /assets/ are immutable and cached for a year;
//   - index.html, embed.js, sw.js and the other entry files are revalidated on every use (no-cache,
//     with strong ETags, so a revalidation is a 304);
//   - .br and .gz variants written by the build are chosen by Accept-Encoding;
//   - a path that names no file and has no extension (/d/<documentId>, /) gets index.html, the
//     app's router takes it from there; /embed-example is embed-example.html;
//   - HTML pages carry a Content-Security-Policy that allows what the app needs (its own scripts,
//     WebAssembly compilation for Automerge, WebSockets to the same host) and nothing else;
//   - embed.js and /assets/ are served with Access-Control-Allow-Origin: * so the <weft-editor>
//     element can be loaded by pages on other origins.
//
// When the bundle was not built (dist holds only .gitkeep), every request gets a 503 page that
// says how to build it; Built reports which case applies.
//
// The handler indexes the file system once, when it is made, and is safe for concurrent use. It
// serves GET and HEAD only. The weft server mounts it at / after its own routes (/api/, /healthz,
// /readyz, /metrics and WebSocket upgrades).
package editorweb
