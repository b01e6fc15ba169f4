package crdt

import (
	"context"
	"encoding/json"
	"fmt"
)

// The server-side API crosses the worker pipe as JSON inside the CBOR
// frame: Edit, View and HistoryQuery already have a JSON form (ops are the
// HTTP API's, hashes hex, times RFC 3339), so nothing is lost on the way.

// Edit implements Engine in the document's worker.
func (p *Pool) Edit(ctx context.Context, e Edit) (Result, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return Result{}, badEdit("%v", err)
	}
	resp, err := p.call(ctx, request{Op: opEdit, Doc: e.Doc, Data: b})
	if err != nil {
		return Result{}, err
	}
	return responseResult(resp), nil
}

// View implements Engine in the document's worker.
func (p *Pool) View(ctx context.Context, v View) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, badEdit("%v", err)
	}
	resp, err := p.call(ctx, request{Op: opView, Doc: v.Doc, Data: b})
	if err != nil {
		return nil, err
	}
	if resp.Data == nil {
		resp.Data = []byte{} // empty text, as Local answers it
	}
	return resp.Data, nil
}

// History implements Engine in the document's worker.
func (p *Pool) History(ctx context.Context, q HistoryQuery) ([]ChangeMeta, int, error) {
	b, err := json.Marshal(q)
	if err != nil {
		return nil, 0, err
	}
	resp, err := p.call(ctx, request{Op: opHistory, Doc: q.Doc, Data: b})
	if err != nil {
		return nil, 0, err
	}
	var page []ChangeMeta
	if err := json.Unmarshal(resp.Data, &page); err != nil {
		return nil, 0, fmt.Errorf("%w: history answer: %v", ErrCrashed, err)
	}
	return page, resp.N, nil
}

// Stats implements Engine in the document's worker, whose resident set
// the memory estimate is about.
func (p *Pool) Stats(ctx context.Context, doc string) (Stats, error) {
	resp, err := p.call(ctx, request{Op: opStats, Doc: doc})
	if err != nil {
		return Stats{}, err
	}
	return Stats{Changes: resp.N, Memory: resp.Mem}, nil
}

// handleAPI answers the API requests in a worker.
func handleAPI(ctx context.Context, l *Local, req request, resp response) (response, error) {
	switch req.Op {
	case opEdit:
		var e Edit
		if err := json.Unmarshal(req.Data, &e); err != nil {
			return resp, badEdit("%v", err)
		}
		e.Doc = req.Doc
		res, err := l.Edit(ctx, e)
		return resultResponse(resp, res), err
	case opView:
		var v View
		if err := json.Unmarshal(req.Data, &v); err != nil {
			return resp, badEdit("%v", err)
		}
		v.Doc = req.Doc
		out, err := l.View(ctx, v)
		resp.Data = out
		return resp, err
	case opHistory:
		var q HistoryQuery
		if err := json.Unmarshal(req.Data, &q); err != nil {
			return resp, badEdit("%v", err)
		}
		q.Doc = req.Doc
		page, total, err := l.History(ctx, q)
		if err != nil {
			return resp, err
		}
		resp.Data, err = json.Marshal(page)
		resp.N = total
		return resp, err
	case opStats:
		s, err := l.Stats(ctx, req.Doc)
		resp.N, resp.Mem = s.Changes, s.Memory
		return resp, err
	}
	return resp, fmt.Errorf("crdt: unknown op %d", req.Op)
}

var (
	_ Engine = (*Local)(nil)
	_ Engine = (*Pool)(nil)
)
