package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	HeaderDelivery  = "X-Weft-Delivery"
	HeaderTimestamp = "X-Weft-Timestamp"
	HeaderSignature = "X-Weft-Signature"
	HeaderEvent     = "X-Weft-Event"
)

// Sign returns the X-Weft-Signature value for a body sent at timestamp
// (Unix seconds, as in X-Weft-Timestamp): "sha256=" and the hex
// HMAC-SHA256 of timestamp + "." + body under secret.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	io.WriteString(m, timestamp)
	io.WriteString(m, ".")
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature (an X-Weft-Signature value) signs
// timestamp and body under secret, in constant time. It does not check
// that the timestamp is recent: VerifyRequest does.
func Verify(secret, timestamp string, body []byte, signature string) bool {
	want := Sign(secret, timestamp, body)
	return hmac.Equal([]byte(want), []byte(strings.TrimSpace(signature)))
}

// VerifyRequest is a receiver's whole check: it reads the body (up to
// maxBody bytes), verifies the signature, and refuses timestamps more than
// tolerance away from now (replays of old deliveries). It returns the body.
func VerifyRequest(r *http.Request, secret string, maxBody int64, tolerance time.Duration) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("webhook: reading body: %w", err)
	}
	if int64(len(body)) > maxBody {
		return nil, errors.New("webhook: body too large")
	}
	ts := r.Header.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errors.New("webhook: missing or malformed " + HeaderTimestamp)
	}
	if d := time.Since(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return nil, fmt.Errorf("webhook: timestamp %s away from now, over the %s tolerance", d.Round(time.Second), tolerance)
	}
	if !Verify(secret, ts, body, r.Header.Get(HeaderSignature)) {
		return nil, errors.New("webhook: bad signature")
	}
	return body, nil
}
