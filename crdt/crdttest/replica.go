package crdttest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/weft-dev/weft/crdt"
)

// Replica is an in-process document with one sync state: the client side
// of a sync, for tests, tools and the load generator. It runs automerge-rs
// in this process, so feed it only trusted bytes. Not safe for concurrent
// use.
type Replica struct {
	doc   *automerge.Doc
	ss    *automerge.SyncState
	acked crdt.Heads
	// last is the last message received, for Reply.
	last []byte
	// at, when set, timestamps commits (tests want reproducible hashes).
	at time.Time
}

// NewReplica returns an empty replica.
func NewReplica() *Replica {
	d := automerge.New()
	return &Replica{doc: d, ss: automerge.NewSyncState(d)}
}

// LoadReplica loads a replica from saved bytes (a document, change chunks,
// or a document followed by change chunks, as storage holds them). Errors
// wrap crdt.ErrCorrupt.
func LoadReplica(b []byte) (*Replica, error) {
	d := automerge.New()
	if len(b) > 0 {
		// automerge.Load drops a chunk it cannot parse, and everything
		// after it, without an error; crdt's own load checks the chunks
		// first, so a test that loads stored bytes sees the damage.
		if _, err := crdt.NewLocal(nil).Open(context.Background(), "check", b); err != nil {
			return nil, err
		}
		var err error
		if d, err = automerge.Load(b); err != nil {
			return nil, fmt.Errorf("%w: %v", crdt.ErrCorrupt, err)
		}
	}
	return &Replica{doc: d, ss: automerge.NewSyncState(d)}, nil
}

// SpliceText edits the text at key of the root map (creating it), and
// commits the edit as one change.
func (r *Replica) SpliceText(key string, pos, del int, insert string) error {
	v, err := r.doc.Path(key).Get()
	if err != nil {
		return err
	}
	if v.Kind() != automerge.KindText {
		if err := r.doc.Path(key).Set(automerge.NewText("")); err != nil {
			return err
		}
	}
	if err := r.doc.Path(key).Text().Splice(pos, del, insert); err != nil {
		return err
	}
	var opts []automerge.CommitOptions
	if !r.at.IsZero() {
		opts = append(opts, automerge.CommitOptions{Time: &r.at})
	}
	_, err = r.doc.Commit("", opts...)
	return err
}

// ApplyChanges loads change chunks (a peer's, or this replica's own from a
// copy) into the replica.
func (r *Replica) ApplyChanges(chunks ...[]byte) error {
	if err := r.doc.LoadIncremental(bytes.Join(chunks, nil)); err != nil {
		return fmt.Errorf("%w: %v", crdt.ErrBadMessage, err)
	}
	return nil
}

// Fork returns an independent copy of the replica (with a new actor), for
// preparing changes ahead of time.
func (r *Replica) Fork() (*Replica, error) {
	d, err := r.doc.Fork()
	if err != nil {
		return nil, err
	}
	return &Replica{doc: d, ss: automerge.NewSyncState(d), at: r.at}, nil
}

// Text returns the text at key of the root map ("" if absent).
func (r *Replica) Text(key string) (string, error) {
	v, err := r.doc.Path(key).Get()
	if err != nil {
		return "", err
	}
	if v.Kind() != automerge.KindText {
		return "", nil
	}
	return r.doc.Path(key).Text().Get()
}

// Heads returns the replica's heads.
func (r *Replica) Heads() crdt.Heads {
	hs := r.doc.Heads()
	out := make(crdt.Heads, len(hs))
	for i, h := range hs {
		out[i] = crdt.Hash(h)
	}
	sortHeads(out)
	return out
}

// sortHeads sorts heads bytewise, as crdt reports them.
func sortHeads(hs crdt.Heads) {
	slices.SortFunc(hs, func(a, b crdt.Hash) int { return bytes.Compare(a[:], b[:]) })
}

// catch turns a panic of automerge-go (on an unexpected C result) into an
// error wrapping crdt.ErrBadMessage.
func catch(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: automerge panicked: %v", crdt.ErrBadMessage, r)
	}
}

// Save returns the whole document.
func (r *Replica) Save() []byte { return r.doc.Save() }

// GenerateMessage returns the next sync message for the remote, if any.
func (r *Replica) GenerateMessage() ([]byte, bool) {
	m, ok := r.ss.GenerateMessage()
	if !ok {
		return nil, false
	}
	return m.Bytes(), true
}

// ReceiveMessage applies a sync message from the remote.
func (r *Replica) ReceiveMessage(msg []byte) (err error) {
	defer catch(&err)
	r.last = nil
	if _, err := r.ss.ReceiveMessage(msg); err != nil {
		return fmt.Errorf("%w: %v", crdt.ErrBadMessage, err)
	}
	r.last = msg
	return nil
}

// Reply returns the message to send after receiving one: the next sync
// message, or else a one-time acknowledgement of the replica's heads, as
// current automerge cores send ("always respond at least once"), so the
// remote learns that this replica is in sync.
//
// It also behaves like current cores where 0.5.0 stalls: 0.5.0 keeps
// in_flight set across a receive while the remote advertises heads it
// lacks, and then says nothing until its own heads change (automerge#702,
// fixed by #703, which clears in_flight on every receive; the automerge
// JS that automerge-repo clients run has the fix). When the remote's heads
// differ and 0.5.0 would stay silent, the state restarts from its shared
// heads and re-reads the message, which clears in_flight (and forgets
// sent_hashes, so a change may be sent twice: harmless).
func (r *Replica) Reply() ([]byte, bool) {
	m, ok := r.GenerateMessage()
	if !ok && r.last != nil {
		if theirs, err := crdt.MessageHeads(r.last); err == nil {
			sortHeads(theirs)
			if !theirs.Equal(r.Heads()) {
				if ss, err := automerge.LoadSyncState(r.doc, r.ss.Save()); err == nil {
					if _, err := ss.ReceiveMessage(r.last); err == nil {
						r.ss = ss
						m, ok = r.GenerateMessage()
					}
				}
			}
		}
	}
	if ok {
		r.acked = nil
		return m, true
	}
	hs := r.Heads()
	if r.acked.Equal(hs) {
		return nil, false
	}
	r.acked = hs
	return crdt.AckMessage(hs), true
}

// SetActor sets the actor id (hex) of the replica's next changes.
func (r *Replica) SetActor(hex string) error { return r.doc.SetActorID(hex) }

// SetCommitTime timestamps the replica's (and its forks') next commits
// with t, for reproducible hashes.
func (r *Replica) SetCommitTime(t time.Time) { r.at = t }

// ResumeSync restarts the sync as a reconnecting client that persisted its
// sync state does: from the saved shared heads, with nothing in flight and
// nothing acknowledged.
func (r *Replica) ResumeSync() error {
	ss, err := automerge.LoadSyncState(r.doc, r.ss.Save())
	if err != nil {
		return err
	}
	r.ResetSync()
	r.ss = ss
	return nil
}

// ResetSync forgets the sync state, as a reconnecting client does.
func (r *Replica) ResetSync() { r.ss, r.acked, r.last = automerge.NewSyncState(r.doc), nil, nil }

// LastChange returns the bytes of the replica's newest change, for
// building crafted inputs in tests.
func (r *Replica) LastChange() []byte {
	hs := r.doc.Heads()
	if len(hs) == 0 {
		return nil
	}
	c, err := r.doc.Change(hs[0])
	if err != nil {
		return nil
	}
	return c.Save()
}

// Has reports whether the replica holds the change with hash h.
func (r *Replica) Has(h crdt.Hash) bool {
	_, err := r.doc.Change(automerge.ChangeHash(h))
	return err == nil
}

// ChangeMessage returns a sync message that carries the replica's newest
// change and its heads, the way a client that knows the server is in sync
// sends a keystroke (for load generators). That shortcut is only sound
// while the new change is the replica's single head; otherwise (concurrent
// changes merged in) it returns the sync state's own message.
func (r *Replica) ChangeMessage() []byte {
	hs := r.Heads()
	if len(hs) == 1 {
		return crdt.LiveMessage(hs, [][]byte{r.LastChange()})
	}
	if m, ok := r.Reply(); ok {
		return m
	}
	return crdt.AckMessage(hs)
}
