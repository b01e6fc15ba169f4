package replay

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/peer"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/syncmsg"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
)

type arrival struct {
	hash crdt.Hash
	at   time.Time
}

// reader is a peer that follows the document: a full sync first, then
// light mode.
type reader struct {
	rn   *run
	p    *peer.Peer
	r    *crdttest.Replica // after the initial sync; the rest is applied at the end
	hs   *syncmsg.HeadSet
	want int

	progress atomic.Int64 // got, for the writer's window

	// Written by the reader's loop only; read after it has exited.
	got      int
	acks     int
	msgs     int
	arrivals []arrival
	chunks   [][]byte
	doneAt   time.Time
	done     chan struct{}
}

// newReader joins, requests the document and syncs with a full Replica
// until it holds the writer's setup heads.
func newReader(rn *run, url, id string, setup crdt.Heads, want int) (*reader, error) {
	p, err := peer.Dial(rn.ctx, url, id, &rn.wire, 32<<10)
	if err != nil {
		return nil, err
	}
	rn.add(p)
	rd := &reader{rn: rn, p: p, r: crdttest.NewReplica(), want: want, done: make(chan struct{})}
	msg, _ := rd.r.GenerateMessage()
	if err := p.SendSync(session.TypeRequest, rn.doc, msg); err != nil {
		return nil, err
	}
	for !rd.r.Heads().Equal(setup) {
		m, err := p.Read()
		if err != nil {
			return nil, err
		}
		switch m.Type {
		case session.TypeSync:
			if err := rd.setupSync(m.Data); err != nil {
				return nil, err
			}
		case session.TypeDocUnavailable:
			return nil, errors.New("the server says the document is unavailable")
		case session.TypeError:
			return nil, fmt.Errorf("server error: %s", m.Message)
		}
	}
	rd.hs = syncmsg.NewHeadSet(setup)
	return rd, nil
}

// setupSync answers one sync message of the initial sync with the full
// Replica.
func (rd *reader) setupSync(data []byte) error {
	if _, err := syncmsg.Parse(data); err != nil {
		return err
	}
	if err := rd.r.ReceiveMessage(data); err != nil {
		return err
	}
	if reply, ok := rd.r.Reply(); ok {
		return rd.p.SendSync(session.TypeSync, rd.rn.doc, reply)
	}
	return nil
}

// lightLoop follows the live stream until the connection ends.
func (rd *reader) lightLoop() {
	for {
		m, err := rd.p.Read()
		now := time.Now()
		if err != nil {
			rd.rn.failf("reader %s: %w", rd.p.ID, err)
			return
		}
		switch m.Type {
		case session.TypeSync:
		case session.TypeError:
			rd.rn.failf("server error to reader %s: %s", rd.p.ID, m.Message)
			return
		default:
			continue
		}
		if err := rd.receive(m.Data, now); err != nil {
			rd.rn.failf("reader %s: %w", rd.p.ID, err)
			return
		}
	}
}

// receive handles one sync message that arrived at now: it records the
// arrival of the changes it carries and acknowledges its own heads, the
// way a client in sync answers. It answers a message that carries no
// changes only if the message advertises heads it lacks or needs
// something, so two peers in sync do not ping-pong acknowledgements.
func (rd *reader) receive(data []byte, now time.Time) error {
	rd.msgs++
	sm, err := syncmsg.Parse(data)
	if err != nil {
		return err
	}
	fresh := 0
	for _, c := range sm.Changes {
		if rd.hs.Add(c) {
			rd.arrivals = append(rd.arrivals, arrival{c.Hash, now})
			rd.chunks = append(rd.chunks, c.Raw)
			fresh++
		}
	}
	answer := len(sm.Changes) > 0 || len(sm.Need) > 0
	for _, h := range sm.Heads {
		answer = answer || !rd.hs.Has(h) && !rd.r.Has(h)
	}
	if answer {
		rd.acks++
		if err := rd.p.SendSync(session.TypeSync, rd.rn.doc, crdt.AckMessage(rd.hs.List())); err != nil {
			return err
		}
	}
	rd.count(fresh, now)
	return nil
}

// count adds fresh changes to what the reader got, wakes the writer's
// window and marks the reader done once it has every change.
func (rd *reader) count(fresh int, now time.Time) {
	rd.got += fresh
	if fresh == 0 {
		return
	}
	rd.progress.Store(int64(rd.got))
	rd.rn.notify()
	if rd.got >= rd.want && rd.doneAt.IsZero() {
		rd.doneAt = now
		close(rd.done)
	}
}

// finalText applies every change the reader received to its replica and
// returns the text.
func (rd *reader) finalText() (string, error) {
	if len(rd.chunks) > 0 {
		if err := rd.r.ReceiveMessage(syncmsg.Build(rd.hs.List(), rd.chunks)); err != nil {
			return "", err
		}
		rd.chunks = nil
	}
	if hs := rd.r.Heads(); !hs.Equal(rd.hs.List()) {
		return "", fmt.Errorf("replica heads %v differ from the heads received (%d changes)", hs, rd.got)
	}
	return rd.r.Text("text")
}
