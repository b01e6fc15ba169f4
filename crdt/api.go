package crdt

import (
	"encoding/json"
	"time"
)

// Op is one operation of a server-side edit, addressed by a JSON pointer
// (RFC 6901) into the document. Its JSON form is the HTTP API's.
//
//	{"op":"set","path":"/title","value":"Notes"}         map key or list index; strings become text
//	{"op":"set","path":"/n","value":3,"type":"counter"}  type: "" | "text" | "string" | "counter" | "timestamp"
//	{"op":"delete","path":"/title"}                       map key, or list element
//	{"op":"splice","path":"/text","pos":0,"del":2,"insert":"Hi "}   text
//	{"op":"splice","path":"/items","pos":1,"del":1,"values":[1,2]}  list
//	{"op":"insert","path":"/items/2","value":{}}          list; "/items/-" appends
//	{"op":"increment","path":"/count","by":1}             counter (created at 0 if missing)
type Op struct {
	Op     string            `json:"op" cbor:"op"`
	Path   string            `json:"path" cbor:"path"`
	Value  json.RawMessage   `json:"value,omitempty" cbor:"value,omitempty"`
	Values []json.RawMessage `json:"values,omitempty" cbor:"values,omitempty"`
	Type   string            `json:"type,omitempty" cbor:"type,omitempty"`
	Pos    int               `json:"pos,omitempty" cbor:"pos,omitempty"`
	Del    int               `json:"del,omitempty" cbor:"del,omitempty"`
	Insert string            `json:"insert,omitempty" cbor:"insert,omitempty"`
	By     int64             `json:"by,omitempty" cbor:"by,omitempty"`
}

// Edit is one server-side change: Ops (or a Restore) committed as a single
// Automerge change with Message and Time (zero: now; stored in whole
// seconds, as Automerge JS stores it). Ops and Restore exclude each other;
// an edit that changes nothing commits nothing (Result.NChanges 0).
type Edit struct {
	Doc     string
	Ops     []Op
	Message string
	Time    time.Time
	// Base, when set, applies Ops to the document as it was at these heads
	// and merges the result: the change is concurrent with everything
	// that happened since.
	Base Heads
	// Restore, when set (and Ops empty), makes the change bring the
	// document's content back to what it was at these heads. History is
	// kept: the restore is a new change on top.
	Restore Heads
	// Peers are the document's peers: when the edit changed the document,
	// each of them gets its next sync message in Result.Others.
	Peers []string
}

// View asks for the document (or the value at Path) as JSON, now or as it
// was at At. Text becomes a JSON string (rich-text block markers become
// "\n"), counters numbers, timestamps RFC 3339 strings, bytes base64.
type View struct {
	Doc  string
	At   Heads  // nil: now
	Path string // JSON pointer; "" is the whole document
	// Text asks for the text at Path as plain text instead of JSON.
	Text bool
}

// ChangeMeta describes one change of a document's history.
//
// Time: Automerge JS writes change times in seconds, automerge-rs's C API
// in milliseconds; values below 1e11 are read as seconds, others as
// milliseconds. Server edits store seconds, like the browser clients.
type ChangeMeta struct {
	Hash    Hash      `json:"hash"`
	Actor   string    `json:"actor"` // hex
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time,omitzero"` // zero when the change carries none
	Message string    `json:"message"`
	Deps    Heads     `json:"deps"`
	Size    int       `json:"size"` // bytes of the encoded (uncompressed) change
}

// HistoryQuery pages through a document's changes, newest first: Skip
// changes from the newest, then at most Limit.
type HistoryQuery struct {
	Doc   string
	Skip  int
	Limit int
}

// Stats describes an open document in an engine.
type Stats struct {
	// Changes counts the changes applied since the document was opened.
	Changes int
	// Memory estimates the bytes the document holds in the engine; 0 when
	// the engine cannot tell.
	Memory int64
}
