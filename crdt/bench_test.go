package crdt

import (
	"context"
	"fmt"
	"testing"
)

// benchLive measures the engine's cost for one keystroke change from a
// writer while 10 readers follow in sync, after `history` changes.
func benchLive(b *testing.B, e Engine, history int) {
	ctx := context.Background()
	doc := NewDocumentID()
	if _, err := e.Open(ctx, doc, nil); err != nil {
		b.Fatal(err)
	}
	w := NewReplica()
	readers := make([]*Replica, 10)
	keys := []string{"w"}
	for i := range readers {
		readers[i] = NewReplica()
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
	var pump func(from string, r *Replica)
	var send func(from string, msg []byte)
	deliver := func(outs []Outgoing) {
		for _, o := range outs {
			var r *Replica
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
		res, err := e.Receive(ctx, Receive{Doc: doc, Peer: from, Msg: msg, Others: others(from)})
		if err != nil {
			b.Fatal(err)
		}
		outs := res.Others
		if res.Reply != nil {
			outs = append([]Outgoing{{Peer: from, Msg: res.Reply}}, outs...)
		}
		deliver(outs)
	}
	pump = func(from string, r *Replica) {
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
		res, err := e.Receive(ctx, Receive{Doc: doc, Peer: "w", Msg: msg, Others: others("w")})
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
			outs = append([]Outgoing{{Peer: "w", Msg: res.Reply}}, outs...)
		}
		deliver(outs)
	}
}

func BenchmarkLiveReceive(b *testing.B) {
	for _, h := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("local/history=%d", h), func(b *testing.B) { benchLive(b, NewLocal(nil), h) })
		b.Run(fmt.Sprintf("pool/history=%d", h), func(b *testing.B) {
			p, err := NewPool(&PoolOptions{Workers: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Shutdown()
			benchLive(b, p, h)
		})
	}
}
