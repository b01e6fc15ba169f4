package session

import "errors"

// The sentinel errors of session, matched with errors.Is. Close outcomes
// (a connection ended with a code and reason) are CloseErrors, in
// closecode.go.

// Errors of the document API (Manager.Edit, View, History, ...); HTTP maps
// them to statuses.
var (
	// ErrNotFound: no such document (or the caller may not know of it).
	ErrNotFound = errors.New("session: document not found")
	// ErrForbidden: the caller's role does not allow this.
	ErrForbidden = errors.New("session: forbidden")
	// ErrMoved: the document's heads differ from the caller's IfHeads.
	ErrMoved = errors.New("session: document has moved")
	// ErrExists: the name is taken (named versions).
	ErrExists = errors.New("session: already exists")
	// ErrUnavailable: the document cannot be served right now (its engine
	// failed, or storage did); retrying later may work.
	ErrUnavailable = errors.New("session: document unavailable")
	// ErrInternal is what an API call gets when its document's goroutine
	// panicked while handling it: the call may or may not have been
	// applied.
	ErrInternal = errors.New("session: internal error")
)

var (
	// ErrShutdown is returned once Shutdown has begun.
	ErrShutdown = errors.New("session: shutting down")
	// ErrPeerClosed: the server ended the HTTP peer's session (a limit, an
	// engine failure, a newer connection with the same peer id); the
	// caller may start over with a fresh sync state.
	ErrPeerClosed = errors.New("session: sync session ended")
	// ErrRelayClosed is returned by a closed Relay.
	ErrRelayClosed = errors.New("session: relay closed")
	// ErrDecode is returned for frames that are not a protocol message.
	ErrDecode = errors.New("session: invalid message")
)
