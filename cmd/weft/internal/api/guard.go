package api

import (
	"net/http"
	"strings"

	"github.com/weft-dev/weft/cmd/weft/internal/auth"
	"github.com/weft-dev/weft/cmd/weft/internal/clientip"
	"github.com/weft-dev/weft/cmd/weft/internal/httpjson"
	"github.com/weft-dev/weft/cmd/weft/internal/limits"
)

// MaxBody bounds a request body on /api/.
const MaxBody = 1 << 20

// guard requires a valid token on every API call (when auth is on) and
// bounds request bodies.
func (a *API) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := a.limiter.Allow(clientip.RemoteIP(r)); !ok {
			a.log.Warn("API call over the rate limit", "audit", "limit_api_rate", "remote", clientip.RemoteIP(r), "path", r.URL.Path)
			a.refused("api_rate")
			w.Header().Set("Retry-After", limits.RetryAfter(wait))
			httpjson.Error(w, http.StatusTooManyRequests, "rate_limited", "too many API calls from this address; retry after "+limits.RetryAfter(wait)+"s")
			return
		}
		if r.URL.Path == "/api/openapi.json" {
			next.ServeHTTP(w, r) // the description is public
			return
		}
		grant, err := a.auth.Authenticate(r)
		if err != nil {
			a.log.Warn("authentication failed", "audit", "auth_failed", "remote", clientip.RemoteIP(r), "path", r.URL.Path, "reason", auth.Reason(err), "err", err)
			a.refused("auth")
			w.Header().Set("WWW-Authenticate", `Bearer realm="weft"`)
			httpjson.Error(w, http.StatusUnauthorized, "unauthorized", auth.Reason(err))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get("Origin") != "" &&
			a.checkOrigin != nil && !a.checkOrigin(r) {
			// The token may come from a cookie: refuse cross-site writes.
			a.log.Warn("cross-origin API write refused", "audit", "cross_origin", "remote", clientip.RemoteIP(r), "origin", r.Header.Get("Origin"))
			httpjson.Error(w, http.StatusForbidden, "cross_origin", "cross-origin requests may not change documents")
			return
		}
		if !(r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/binary")) {
			// Uploads set their own, larger limit.
			r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		}
		next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), grant)))
	})
}

func (a *API) refused(reason string) {
	if a.metrics != nil {
		a.metrics.Refused(reason)
	}
}
