package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/peer"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/syncmsg"
	"github.com/weft-dev/weft/cmd/weft-bench/internal/trace"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/session"
)

// bigDoc is a document holding a whole trace, one change per transaction,
// saved as an Automerge file to upload.
type bigDoc struct {
	file    []byte
	heads   crdt.Heads
	changes int // changes in the document (the start text's included)
	text    string
}

// buildBigDoc commits the first n transactions of the trace at path (all
// if n <= 0), one change each, on a replica whose first change writes the
// start text, the way the writer of a replay does.
func buildBigDoc(path string, n int) (*bigDoc, error) {
	tr, err := trace.Load(path)
	if err != nil {
		return nil, err
	}
	plan, err := tr.Plan(n)
	if err != nil {
		return nil, err
	}
	r := crdttest.NewReplica()
	if err := r.SpliceText("text", 0, 0, tr.StartContent); err != nil {
		return nil, err
	}
	for i, e := range plan.Edits {
		if err := r.SpliceText("text", e.Pos, e.Del, e.Insert); err != nil {
			return nil, fmt.Errorf("edit %d %+v: %w", i, e, err)
		}
	}
	return &bigDoc{file: r.Save(), heads: r.Heads(), changes: len(plan.Edits) + 1, text: plan.Expected}, nil
}

// upload puts the document's file under a new id through the HTTP API of
// the node at wsURL (PUT /api/docs/{id}/binary) and returns the id.
func upload(ctx context.Context, wsURL string, d *bigDoc) (string, error) {
	id := crdt.NewDocumentID()
	u := httpURL(wsURL) + "api/docs/" + id + "/binary"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(d.file))
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("upload: PUT %s: %s: %s", u, resp.Status, body)
	}
	return id, nil
}

func httpURL(ws string) string {
	return strings.Replace(strings.Replace(ws, "wss://", "https://", 1), "ws://", "http://", 1)
}

// OpenResult is one fresh client's first full sync of the big document.
type OpenResult struct {
	Changes int `json:"changes"`
	Bytes   int `json:"file_bytes"`
	Nodes   int `json:"nodes"` // weft nodes running
	// FirstMs runs from the request to the arrival of the server's first
	// sync message (whole), FullMs to the client holding every change (its
	// own Automerge work included: the same on every setup).
	FirstMs       float64 `json:"first_message_ms"`
	FullMs        float64 `json:"full_sync_ms"`
	Messages      int     `json:"messages"`
	BytesReceived int64   `json:"bytes_received"`
	Converged     bool    `json:"converged"`
	Error         string  `json:"error,omitempty"`
}

// open connects a fresh client to wsURL, requests doc and syncs with a
// full replica until it holds d's heads; then it checks the text.
func open(ctx context.Context, wsURL, doc string, d *bigDoc, nodes int) *OpenResult {
	res := &OpenResult{Changes: d.changes, Bytes: len(d.file), Nodes: nodes}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var wire peer.Wire
	p, err := peer.Dial(ctx, wsURL, "weft-bench-opener-"+peer.RandomTag(), &wire, 1<<20)
	if err != nil {
		res.Error = fmt.Sprintf("dial: %v", err)
		return res
	}
	stop := context.AfterFunc(ctx, p.Close)
	defer stop()
	defer p.Close()
	r := crdttest.NewReplica()
	msg, _ := r.GenerateMessage()
	t0 := time.Now()
	if err := p.SendSync(session.TypeRequest, doc, msg); err != nil {
		res.Error = err.Error()
		return res
	}
	recv0 := wire.Recv.Load()
	for !r.Heads().Equal(d.heads) {
		at, err := syncOne(p, r, doc)
		if err != nil {
			res.Error = err.Error()
			return res
		}
		res.Messages++
		if res.Messages == 1 {
			res.FirstMs = millis(at.Sub(t0))
		}
	}
	res.FullMs = millis(time.Since(t0))
	res.BytesReceived = wire.Recv.Load() - recv0
	text, err := r.Text("text")
	if err != nil {
		res.Error = err.Error()
		return res
	}
	res.Converged = text == d.text
	return res
}

// syncOne reads the next sync message of the initial sync and answers it;
// it returns when the message had arrived.
func syncOne(p *peer.Peer, r *crdttest.Replica, doc string) (time.Time, error) {
	for {
		m, err := p.Read()
		at := time.Now()
		if err != nil {
			return at, err
		}
		switch m.Type {
		case session.TypeSync:
			if _, err := syncmsg.Parse(m.Data); err != nil {
				return at, err
			}
			if err := r.ReceiveMessage(m.Data); err != nil {
				return at, err
			}
			if reply, ok := r.Reply(); ok {
				return at, p.SendSync(session.TypeSync, doc, reply)
			}
			return at, nil
		case session.TypeDocUnavailable:
			return at, errors.New("the server says the document is unavailable")
		case session.TypeError:
			return at, fmt.Errorf("server error: %s", m.Message)
		}
	}
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
