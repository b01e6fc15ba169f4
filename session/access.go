package session

import "fmt"

// Role is what a connection may do with one document.
type Role int

// Roles, weakest first. RoleNone hides the document: the peer gets
// doc-unavailable, exactly as for a document that does not exist.
const (
	RoleNone  Role = iota // no access
	RoleRead              // receives everything; may send sync messages without changes
	RoleWrite             // may change the document
	RoleAdmin             // write, and (future) manage the document
)

// String returns the role's claim name ("read", "write", "admin"; "none").
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole reads a role as named in token claims.
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "write":
		return RoleWrite, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("session: unknown role %q (want read, write or admin)", s)
}

// Auth is what the transport verified about a connection (from its token).
// A nil *Auth, or a nil Access, allows everything (write on every document):
// the open mode for localhost.
type Auth struct {
	// User is the authenticated subject, for logs; "" when anonymous.
	User string
	// Name is the user's display name, when the token carries one.
	Name string
	// Access returns the connection's role for a document id. It is called
	// on the connection's read goroutine and must be safe for that.
	Access func(doc string) Role
}

// Role returns the role a for doc ("*" asks for the role on every
// document, the one node-wide operations need).
func (a *Auth) Role(doc string) Role { return a.role(doc) }

func (a *Auth) role(doc string) Role {
	if a == nil || a.Access == nil {
		return RoleWrite
	}
	return a.Access(doc)
}
