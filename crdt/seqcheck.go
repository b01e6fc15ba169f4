package crdt

import (
	"encoding/hex"
	"fmt"
	"slices"
)

// automerge-rs 0.5.0 applies a change whose sequence number does not follow
// its actor's previous one (a forged actor starting at seq 2, a second
// change claiming a seq already taken), but the document chunk Save then
// writes cannot be loaded ("changes out of order"): one such change, once
// compacted, makes the document unreadable for everyone. checkSeqs refuses
// those changes before they reach Automerge. It needs each actor's highest
// seq: built from the history the first time a change arrives, then kept
// up to date from the changes that enter (noteSeqs).

// actorSeqs maps an actor (hex, automerge-go's form) to its highest seq.
type actorSeqs map[string]uint64

// checkSeqs returns an ErrBadMessage if a change of cs that the document
// lacks would not be its actor's next seq. had says which hashes were
// present (Receive notes every change and dependency of the message).
// A change whose dependencies are missing waits inside Automerge and is
// not judged here: honest peers send those too, out of order.
func (d *docState) checkSeqs(cs []rawChange, had map[Hash]bool) error {
	if len(cs) == 0 {
		return nil // an acknowledgement: nothing to judge
	}
	var next map[string]uint64 // this message's changes so far
	applies := map[Hash]bool{} // this message's changes that apply now
	for _, c := range cs {
		if c.opaque || had[c.hash] || applies[c.hash] {
			continue // duplicates are harmless (catch-up answers overlap)
		}
		if !slices.ContainsFunc(c.deps, func(h Hash) bool { return !had[h] && !applies[h] }) {
			applies[c.hash] = true
			actor, seq, err := changeActorSeq(c)
			if err != nil {
				return err
			}
			cur, ok := next[actor]
			if !ok {
				seqs := d.seqs()
				if seqs == nil {
					continue // the history could not be read: the snapshot check still holds
				}
				cur = seqs[actor]
			}
			if seq != cur+1 {
				return fmt.Errorf("%w: change %s of actor %s has seq %d, not %d", ErrBadMessage, c.hash, actor, seq, cur+1)
			}
			if next == nil {
				next = map[string]uint64{}
			}
			next[actor] = seq
		}
	}
	return nil
}

// seqs returns each actor's highest seq, built from the whole history on
// first use; nil if the history cannot be read (an empty map would make
// every known actor's next change look out of order).
func (d *docState) seqs() actorSeqs {
	if d.actors != nil {
		return d.actors
	}
	all, err := d.doc.Changes()
	if err != nil {
		return nil
	}
	d.actors = actorSeqs{}
	for _, ch := range all {
		if a := ch.ActorID(); ch.ActorSeq() > d.actors[a] {
			d.actors[a] = ch.ActorSeq()
		}
	}
	return d.actors
}

// noteSeqs records checked changes that entered the document.
func (d *docState) noteSeqs(chunks [][]byte) {
	if d.actors == nil {
		return
	}
	for _, b := range chunks {
		actor, seq, err := chunkActorSeq(b)
		if err != nil {
			d.actors = nil // unknown to us: rebuild when next needed
			return
		}
		d.actors[actor] = max(d.actors[actor], seq)
	}
}

// chunkActorSeq reads the actor and seq of a change chunk that is already
// in the document: its checksum was verified on the way in, so it is not
// hashed again (this runs for every change that enters).
func chunkActorSeq(b []byte) (string, uint64, error) {
	chunk, body, _, err := readChunk(b)
	if err != nil {
		return "", 0, err
	}
	if chunk[8] != chunkChange {
		return "", 0, fmt.Errorf("%w: not an uncompressed change", ErrBadMessage)
	}
	r := &reader{b: body}
	r.hashes()
	if r.err != nil {
		return "", 0, r.err
	}
	return changeActorSeq(rawChange{fields: body[r.off:]})
}

// changeActorSeq reads the actor (as hex, automerge-go's form) and seq of
// an uncompressed change chunk.
func changeActorSeq(c rawChange) (string, uint64, error) {
	h, err := c.header(false)
	if err != nil {
		return "", 0, err
	}
	if h.seq == 0 {
		return "", 0, fmt.Errorf("%w: change with seq 0", ErrBadMessage)
	}
	return hex.EncodeToString(h.actor), h.seq, nil
}
