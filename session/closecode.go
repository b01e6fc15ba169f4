package session

import (
	"fmt"
	"unicode/utf8"
)

// Close codes weft sends. 4000–4499: something transient, reconnect (the
// automerge-repo client reconnects on any close); 4500–4999: do not retry
// without changing something (token, client, input).
const (
	CloseShutdown       = 4000 // server shutting down or restarting
	CloseSlowConsumer   = 4001 // the peer did not read fast enough; its queue overflowed
	CloseReplaced       = 4002 // a newer connection joined with the same peer id
	CloseJoinTimeout    = 4003 // no join within the join timeout
	CloseInternal       = 4004 // the document's engine failed; resync after reconnecting
	CloseTryAgainLater  = 4005 // admission refused for now (admission rate, connections per IP or in total)
	CloseRateLimited    = 4006 // messages or bytes per second over the limit for too long
	CloseProtocol       = 4500 // not a protocol message (bad CBOR, missing fields)
	CloseVersion        = 4501 // unsupported protocol version
	CloseTooLarge       = 4502 // message over the size limit
	CloseBanned         = 4503 // this peer crashed the engine repeatedly; refused for a while
	CloseBadSyncMessage = 4504 // a sync message Automerge cannot read
	CloseUnauthorized   = 4505 // authentication failed
	CloseTooManyDocs    = 4506 // more documents open on one connection than allowed
	CloseDeleted        = 4507 // the document was deleted through the API
)

// The reasons session closes a connection for, each with its code. A
// reason that carries a detail (a document id, an error) is built from
// one of these with [CloseError.With].
var (
	ErrCloseShutdown        = &CloseError{Code: CloseShutdown, Reason: "server shutting down"}
	ErrCloseSessionExpired  = &CloseError{Code: CloseShutdown, Reason: "sync session expired"}
	ErrCloseSlowConsumer    = &CloseError{Code: CloseSlowConsumer, Reason: "send queue overflow: reconnect and resync"}
	ErrCloseReplaced        = &CloseError{Code: CloseReplaced, Reason: "a newer connection joined with this peer id"}
	ErrCloseSessionReset    = &CloseError{Code: CloseReplaced, Reason: "sync session reset"}
	ErrCloseJoinTimeout     = &CloseError{Code: CloseJoinTimeout, Reason: "no join message received"}
	ErrCloseInternal        = &CloseError{Code: CloseInternal, Reason: "internal error"}
	ErrClosePanic           = &CloseError{Code: CloseInternal, Reason: "internal error; reconnect"}
	ErrCloseRestarting      = &CloseError{Code: CloseInternal, Reason: "engine restarting; reconnect"}
	ErrCloseStorageBack     = &CloseError{Code: CloseInternal, Reason: "storage is back; reconnect to send your unsaved changes"}
	ErrCloseEngineFailed    = &CloseError{Code: CloseInternal, Reason: "document unavailable after an engine failure"}
	ErrCloseUnloadable      = &CloseError{Code: CloseInternal, Reason: "document cannot be loaded on this server"}
	ErrCloseDocPanic        = &CloseError{Code: CloseInternal, Reason: "internal error on document; reconnect"}
	ErrCloseInvalidFrame    = &CloseError{Code: CloseProtocol, Reason: "invalid frame"}
	ErrCloseNoSender        = &CloseError{Code: CloseProtocol, Reason: "join without senderId"}
	ErrCloseNoData          = &CloseError{Code: CloseProtocol, Reason: "sync message without data"}
	ErrCloseVersion         = &CloseError{Code: CloseVersion, Reason: "unsupported protocol version"}
	ErrCloseBanned          = &CloseError{Code: CloseBanned, Reason: "refused for a while after crashing the engine"}
	ErrCloseCrashingMessage = &CloseError{Code: CloseBadSyncMessage, Reason: "your sync message crashed the document engine"}
	ErrCloseBadSyncMessage  = &CloseError{Code: CloseBadSyncMessage, Reason: "invalid sync message"}
	ErrCloseTooManyDocs     = &CloseError{Code: CloseTooManyDocs, Reason: "too many documents open on one connection"}
	ErrCloseDeleted         = &CloseError{Code: CloseDeleted, Reason: "document deleted"}

	// The transport's (cmd/weft), before or around session.
	ErrCloseTryAgainLater = &CloseError{Code: CloseTryAgainLater, Reason: "try again later"}
	ErrCloseRateLimited   = &CloseError{Code: CloseRateLimited, Reason: "too many messages or bytes per second"}
	ErrCloseTextFrame     = &CloseError{Code: CloseProtocol, Reason: "text frames are not part of the protocol; send binary CBOR"}
	ErrCloseTooLarge      = &CloseError{Code: CloseTooLarge, Reason: "message over the size limit"}
	ErrCloseUnauthorized  = &CloseError{Code: CloseUnauthorized, Reason: "authentication failed"}
)

// maxCloseReason is the most a WebSocket close reason may hold: a close
// frame's payload is at most 125 bytes, two of them the code (RFC 6455
// §5.5).
const maxCloseReason = 123

// CloseError is a protocol outcome that ends a connection.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("close %d: %s", e.Code, e.Reason) }

// Retry reports whether the peer should reconnect.
func (e *CloseError) Retry() bool { return e.Code < 4500 }

// With returns a copy of e whose reason ends with detail, cut to fit a
// close frame.
func (e *CloseError) With(detail string) *CloseError {
	return &CloseError{Code: e.Code, Reason: truncate(e.Reason+": "+detail, maxCloseReason)}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
