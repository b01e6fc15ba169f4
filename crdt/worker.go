package crdt

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// workerEnv marks a process started by a Pool as a worker.
const workerEnv = "WEFT_CRDT_WORKER"

// runWorker serves the parent on stdin and stdout.
func runWorker() {
	if dir := os.Getenv(workerProfileEnv); dir != "" {
		// A diagnostic: the worker's CPU profile, for when the engine is the
		// bottleneck (the server's --pprof sees only the parent).
		if f, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.pprof", os.Getpid()))); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer f.Close()
				defer pprof.StopCPUProfile()
			}
		}
	}
	serve(os.Stdin, os.Stdout, NewLocal(localOptsFromEnv()))
}

// workerProfileEnv names a directory where each worker writes its CPU
// profile until its input closes.
const workerProfileEnv = "WEFT_CRDT_WORKER_PROFILE"

// MaybeRunWorker turns this process into a crdt worker when a Pool started
// it, and never returns in that case. Call it first thing in main and in
// TestMain of every package whose tests start a Pool.
func MaybeRunWorker() {
	if os.Getenv(workerEnv) != "1" {
		return
	}
	runWorker()
	os.Exit(0)
}

// serve answers requests until the input closes.
func serve(in io.Reader, out io.Writer, l *Local) {
	r := bufio.NewReaderSize(in, 1<<16)
	w := bufio.NewWriterSize(out, 1<<16)
	ctx := context.Background()
	for {
		var req request
		if err := readFrame(r, &req); err != nil {
			return
		}
		resp := handle(ctx, l, req)
		if err := writeFrame(w, resp); err != nil {
			return
		}
	}
}

// resultResponse fills a response with a Receive result.
func resultResponse(resp response, res Result) response {
	resp.Data, resp.Changes, resp.N = res.Reply, res.Changes, res.NChanges
	resp.Heads, resp.Their = packHeads(res.Heads), packHeads(res.TheirHeads)
	resp.Out = packOut(res.Others)
	return resp
}

func handle(ctx context.Context, l *Local, req request) response {
	resp := response{ID: req.ID}
	var err error
	switch req.Op {
	case opOpen:
		var hs Heads
		hs, err = l.Open(ctx, req.Doc, req.Data)
		resp.Heads = packHeads(hs)
	case opReceive:
		var res Result
		res, err = l.Receive(ctx, Receive{Doc: req.Doc, Peer: req.Peer, Msg: req.Data, Others: req.Peers})
		resp = resultResponse(resp, res)
	case opReceiveAll:
		rs := make([]Receive, len(req.All))
		for i, sub := range req.All {
			rs[i] = Receive{Doc: req.Doc, Peer: sub.Peer, Msg: sub.Data, Others: sub.Peers}
			if sub.SamePeers && i > 0 {
				rs[i].Others = rs[i-1].Others
			}
		}
		var (
			results []Result
			errs    []error
		)
		results, errs, err = l.ReceiveAll(ctx, rs)
		for i := range results {
			sub := resultResponse(response{}, results[i])
			if errs[i] != nil {
				sub.Err, sub.Kind = errs[i].Error(), kindOf(errs[i])
			}
			resp.All = append(resp.All, sub)
		}
	case opMerge:
		var res Result
		res, err = l.Merge(ctx, Merge{Doc: req.Doc, Data: req.Data, Peers: req.Peers})
		resp.Changes, resp.N, resp.Waiting = res.Changes, res.NChanges, res.Waiting
		resp.Heads = packHeads(res.Heads)
		resp.Out = packOut(res.Others)
	case opGenerate:
		var out []Outgoing
		out, err = l.Generate(ctx, req.Doc, req.Peers)
		resp.Out = packOut(out)
	case opSetPeer:
		state := req.Data
		if req.Nil {
			state = nil
		} else if state == nil {
			state = []byte{}
		}
		err = l.SetPeer(ctx, req.Doc, req.Peer, state)
	case opPeerState:
		resp.Data, err = l.PeerState(ctx, req.Doc, req.Peer)
	case opDropPeer:
		err = l.DropPeer(ctx, req.Doc, req.Peer)
	case opSave:
		resp.Data, err = l.Save(ctx, req.Doc)
	case opHeads:
		var hs Heads
		hs, err = l.Heads(ctx, req.Doc)
		resp.Heads = packHeads(hs)
	case opContains:
		var ok bool
		ok, err = l.Contains(ctx, req.Doc, unpackHeads(req.Data))
		resp.N = boolInt(ok)
	case opProbe:
		err = l.Probe(ctx, req.Data, req.Msg)
	case opClose:
		err = l.Close(ctx, req.Doc)
	case opEdit, opView, opHistory, opStats:
		resp, err = handleAPI(ctx, l, req, resp)
	default:
		resp.Err = "crdt: unknown op"
	}
	if err != nil {
		resp.Err, resp.Kind = err.Error(), kindOf(err)
	}
	return resp
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
