package session

import "fmt"

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

// CloseError is a protocol outcome that ends a connection.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string { return fmt.Sprintf("close %d: %s", e.Code, e.Reason) }

// Retry reports whether the peer should reconnect.
func (e *CloseError) Retry() bool { return e.Code < 4500 }
