package session

import (
	"sync"
	"time"

	"github.com/weft-dev/weft/crdt"
)

// Event types.
const (
	EventChange = "change" // changes became durable on this node
	EventJoin   = "join"   // a peer opened the document on this node
	EventLeave  = "leave"  // that peer left
)

// Event is something that happened to a document, for change feeds and
// webhooks. Change events follow persistence: what they name is durable.
type Event struct {
	Type string    `json:"type"`
	Doc  string    `json:"documentId"`
	Time time.Time `json:"time"`
	// Change events: the document's heads after the changes, and the
	// changes themselves (in the order they were applied), whether they
	// came from a peer on this node, the API or another node.
	Heads   crdt.Heads        `json:"heads,omitempty"`
	Changes []crdt.ChangeMeta `json:"changes,omitempty"`
	// Join and leave events: the peer and its authenticated user.
	Peer string `json:"peerId,omitempty"`
	User string `json:"user,omitempty"`
}

// events fans events out to subscribers. Subscribers are called on the
// document goroutine and must not block: they copy what they need and
// hand it to a goroutine of their own.
type events struct {
	mu   sync.Mutex // guards subs and next
	subs map[int]eventSub
	next int
}

type eventSub struct {
	doc string // "" for every document
	fn  func(Event)
}

// Subscribe calls fn for every event of doc ("" for every document) until
// the returned cancel is called. fn runs on the document's goroutine: it
// must return quickly and never block (drop or queue instead).
func (m *Manager) Subscribe(doc string, fn func(Event)) (cancel func()) {
	e := &m.events
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.subs == nil {
		e.subs = map[int]eventSub{}
	}
	id := e.next
	e.next++
	e.subs[id] = eventSub{doc: doc, fn: fn}
	return func() {
		e.mu.Lock()
		delete(e.subs, id)
		e.mu.Unlock()
	}
}

// emit delivers ev to its subscribers.
func (e *events) emit(ev Event) {
	e.mu.Lock()
	fns := make([]func(Event), 0, len(e.subs))
	for _, s := range e.subs {
		if s.doc == "" || s.doc == ev.Doc {
			fns = append(fns, s.fn)
		}
	}
	e.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// watched reports whether anyone subscribes to doc's events, so that
// documents skip decoding change metadata nobody reads.
func (e *events) watched(doc string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.subs {
		if s.doc == "" || s.doc == doc {
			return true
		}
	}
	return false
}

// changed emits a change event for chunks that just became durable.
func (d *document) changed(chunks []byte) {
	if !d.m.events.watched(d.id) {
		return
	}
	metas, err := crdt.ParseChanges(chunks)
	if err != nil {
		// The engine produced these chunks; this would be our bug.
		d.log.Error("decoding change metadata failed", "err", err)
	}
	d.m.events.emit(Event{Type: EventChange, Doc: d.id, Time: time.Now().UTC(), Heads: d.heads, Changes: metas})
}

// presence emits a join or leave event for a peer of the document.
func (d *document) presence(typ string, cl *Client) {
	user := ""
	if cl.auth != nil {
		user = cl.auth.User
	}
	d.m.events.emit(Event{Type: typ, Doc: d.id, Time: time.Now().UTC(), Peer: cl.peerID, User: user})
}

// pinned reports whether someone watches doc itself (an event stream):
// such a document stays open without peers, so that it keeps hearing
// other nodes' changes.
func (e *events) pinned(doc string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.subs {
		if s.doc == doc {
			return true
		}
	}
	return false
}
