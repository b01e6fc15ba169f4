package crdt_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// benchLive measures the engine's cost for one keystroke change from a
// writer while 10 readers follow in sync, after `history` changes.
func benchLive(b *testing.B, e crdt.Engine, history int) {
	ctx := context.Background()
	doc := crdt.NewDocumentID()
	if _, err := e.Open(ctx, doc, nil); err != nil {
		b.Fatal(err)
	}
	w := crdttest.NewReplica()
	readers := make([]*crdttest.Replica, 10)
	keys := []string{"w"}
	for i := range readers {
		readers[i] = crdttest.NewReplica()
		keys = append(keys, fmt.Sprintf("r%d", i))
	}
	others := func(k string) []string {
		var o []string
		for _, x := range keys {
			if x != k {
				o = append(o, x)
			}
		}
		return o
	}
	// pump delivers messages until quiet.
	var pump func(from string, r *crdttest.Replica)
	var send func(from string, msg []byte)
	deliver := func(outs []crdt.Outgoing) {
		for _, o := range outs {
			var r *crdttest.Replica
			if o.Peer == "w" {
				r = w
			} else {
				var i int
				fmt.Sscanf(o.Peer, "r%d", &i)
				r = readers[i]
			}
			if err := r.ReceiveMessage(o.Msg); err != nil {
				b.Fatal(err)
			}
			if m, ok := r.Reply(); ok {
				send(o.Peer, m)
			}
		}
	}
	send = func(from string, msg []byte) {
		res, err := e.Receive(ctx, crdt.Receive{Doc: doc, Peer: from, Msg: msg, Others: others(from)})
		if err != nil {
			b.Fatal(err)
		}
		outs := res.Others
		if res.Reply != nil {
			outs = append([]crdt.Outgoing{{Peer: from, Msg: res.Reply}}, outs...)
		}
		deliver(outs)
	}
	pump = func(from string, r *crdttest.Replica) {
		if msg, ok := r.GenerateMessage(); ok {
			send(from, msg)
		}
	}
	for i := 0; i < history; i++ {
		w.SpliceText("text", i, 0, "x")
	}
	pump("w", w)
	for i, r := range readers {
		pump(fmt.Sprintf("r%d", i), r)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.SpliceText("text", history+i, 0, "y")
		msg, _ := w.GenerateMessage()
		b.StartTimer()
		res, err := e.Receive(ctx, crdt.Receive{Doc: doc, Peer: "w", Msg: msg, Others: others("w")})
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if string(res.Others[0].Msg) != string(res.Others[9].Msg) {
			b.Fatalf("iteration %d: readers not on the live path", i)
		}
		if res.NChanges != 1 || len(res.Others) != 10 {
			b.Fatalf("changes %d, messages to others %d", res.NChanges, len(res.Others))
		}
		outs := res.Others
		if res.Reply != nil {
			outs = append([]crdt.Outgoing{{Peer: "w", Msg: res.Reply}}, outs...)
		}
		deliver(outs)
	}
}

func BenchmarkLiveReceive(b *testing.B) { benchEngines(b, benchLive) }

// benchEngines runs bench in-process and through a one-worker Pool, at
// 1,000 and 10,000 changes of history.
func benchEngines(b *testing.B, bench func(b *testing.B, e crdt.Engine, history int)) {
	for _, h := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("local/history=%d", h), func(b *testing.B) { bench(b, crdt.NewLocal(nil), h) })
		b.Run(fmt.Sprintf("pool/history=%d", h), func(b *testing.B) {
			p, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Shutdown()
			bench(b, p, h)
		})
	}
}

// BenchmarkLiveBatch measures a burst: 256 keystroke changes from a writer
// arrive together (as they do when a server is busy) and go to the engine
// in one ReceiveAll while 10 readers follow in sync. Coalescing gives each
// reader one message for the burst. ns/change is the engine's cost per
// change.
func BenchmarkLiveBatch(b *testing.B) { benchEngines(b, benchBatch) }

func benchBatch(b *testing.B, e crdt.Engine, history int) {
	const burst = 256
	ctx := context.Background()
	doc := crdt.NewDocumentID()
	if _, err := e.Open(ctx, doc, nil); err != nil {
		b.Fatal(err)
	}
	w := crdttest.NewReplica()
	for i := 0; i < history; i++ {
		w.SpliceText("text", i, 0, "x")
	}
	peers := []string{"w"}
	readers := map[string]*crdttest.Replica{"w": w}
	for i := 0; i < 10; i++ {
		k := fmt.Sprintf("r%d", i)
		peers = append(peers, k)
		readers[k] = crdttest.NewReplica()
	}
	others := func(k string) []string {
		return slices.DeleteFunc(slices.Clone(peers), func(x string) bool { return x == k })
	}
	// Sync everyone the normal way until quiet.
	var queue []crdt.Receive
	for _, k := range peers {
		if m, ok := readers[k].GenerateMessage(); ok {
			queue = append(queue, crdt.Receive{Doc: doc, Peer: k, Msg: m, Others: others(k)})
		}
	}
	deliver := func(results []crdt.Result, rs []crdt.Receive) {
		for i, res := range results {
			outs := res.Others
			if res.Reply != nil {
				outs = append([]crdt.Outgoing{{Peer: rs[i].Peer, Msg: res.Reply}}, outs...)
			}
			for _, o := range outs {
				r := readers[o.Peer]
				if err := r.ReceiveMessage(o.Msg); err != nil {
					b.Fatal(err)
				}
				if m, ok := r.Reply(); ok {
					queue = append(queue, crdt.Receive{Doc: doc, Peer: o.Peer, Msg: m, Others: others(o.Peer)})
				}
			}
		}
	}
	for len(queue) > 0 {
		rs := queue
		queue = nil
		results, errs, err := e.ReceiveAll(ctx, rs)
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		deliver(results, rs)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		rs := queue // the readers' acknowledgements of the last burst
		queue = nil
		for j := 0; j < burst; j++ {
			w.SpliceText("text", 0, 0, "y")
			rs = append(rs, crdt.Receive{Doc: doc, Peer: "w", Msg: w.ChangeMessage(), Others: others("w")})
		}
		b.StartTimer()
		results, errs, err := e.ReceiveAll(ctx, rs)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		n, msgs := 0, 0
		for j, res := range results {
			if errs[j] != nil {
				b.Fatal(errs[j])
			}
			n += res.NChanges
			msgs += len(res.Others)
		}
		if n != burst || msgs != 10 {
			b.Fatalf("burst %d: %d changes, %d messages to readers (want %d and 10)", i, n, msgs, burst)
		}
		deliver(results, rs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*burst), "ns/change")
}
