package recovery

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"

	"github.com/weft-dev/weft/cmd/weft/internal/httpjson"
)

// HTTP wraps next: a panic in it is recovered, logged once with its stack,
// counted with onPanic (may be nil), and answered 500 with the JSON error
// body when nothing was written yet. http.ErrAbortHandler is net/http's
// way to abort a response: it is passed on, not logged.
func HTTP(next http.Handler, log *slog.Logger, onPanic func()) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &writeTracker{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}
			log.Error("panic serving an HTTP request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if onPanic != nil {
				onPanic()
			}
			if !rw.wrote {
				httpjson.Error(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// writeTracker records whether a response was started. Unwrap keeps
// http.ResponseController (flushes, hijacks, deadlines) working through it.
type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

func (t *writeTracker) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *writeTracker) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

func (t *writeTracker) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// Flush passes flushes on: the API's event streams need them.
func (t *writeTracker) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		t.wrote = true
		f.Flush()
	}
}

// Hijack passes WebSocket upgrades on; after it, nothing more may be
// written on the connection by this package.
func (t *writeTracker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := t.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("connection cannot be hijacked")
	}
	t.wrote = true
	return hj.Hijack()
}
