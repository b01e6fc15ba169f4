package main

import (
	"fmt"
	"slices"
	"testing"

	"github.com/weft-dev/weft/storage/jsstore/jstest"
)

// apiEdit appends "x" to doc's text through s and returns the new change's hash (the
// document's only head: edits through one API are linear).
func apiEdit(t testing.TB, s *server, doc string, i int) string {
	t.Helper()
	r := call(t, "POST", s.url+"/api/docs/"+doc+"/changes", map[string]any{"message": fmt.Sprintf("edit %d", i), "ops": []any{
		map[string]any{"op": "splice", "path": "/text", "pos": 0, "del": 0, "insert": "x"}}})
	wantStatus(t, r, 200, "edit")
	return r.json(t)["heads"].(string)
}

// changeHashes reads n change events from ch and returns their hashes and the last id.
func changeHashes(t testing.TB, ch <-chan sseEvent, n int) ([]string, string) {
	t.Helper()
	var hashes []string
	id := ""
	for range n {
		ev := nextEvent(t, ch, "change")
		if ev.data["heads"] != nil || ev.data["seq"] == nil || fmt.Sprint(uint64(ev.data["seq"].(float64))) != ev.id {
			t.Fatalf("change event from the log: %+v; want seq = id and no heads", ev)
		}
		for _, c := range ev.data["changes"].([]any) {
			hashes = append(hashes, c.(map[string]any)["hash"].(string))
		}
		id = ev.id
	}
	return hashes, id
}

// A feed read on one node and resumed on another with Last-Event-ID gets exactly the
// changes it missed, each once.
func TestClusterEventsResume(t *testing.T) {
	js := jstest.NewCluster(t, 3)
	n1, n2, n3 := startNode(t, js.URLs(), ""), startNode(t, js.URLs(), ""), startNode(t, js.URLs(), "")
	doc := createDoc(t, n1, map[string]any{"text": ""})
	ch, stop := readSSE(t, n2.url+"/api/docs/"+doc+"/events")
	ready := nextEvent(t, ch, "ready")
	if ready.id == "" || ready.id == "0" {
		t.Fatalf("ready event without the log's position: %+v", ready)
	}
	var sent []string
	for i := range 5 {
		sent = append(sent, apiEdit(t, n1, doc, i))
	}
	got, last := changeHashes(t, ch, 5)
	if !slices.Equal(got, sent) {
		t.Fatalf("node 2's feed: %v, want %v", got, sent)
	}
	stop()
	var missed []string
	for i := range 5 {
		missed = append(missed, apiEdit(t, n1, doc, 5+i))
	}
	ch, stop = readSSE(t, n3.url+"/api/docs/"+doc+"/events", "Last-Event-ID", last)
	defer stop()
	if ev := nextEvent(t, ch, "ready"); ev.id != last {
		t.Fatalf("resumed ready event: %+v, want id %s", ev, last)
	}
	got, _ = changeHashes(t, ch, 5)
	if !slices.Equal(got, missed) {
		t.Fatalf("resumed on node 3: %v, want exactly the missed %v", got, missed)
	}
	// Nothing more was queued: the next event is the next edit.
	next := apiEdit(t, n2, doc, 10)
	if got, _ = changeHashes(t, ch, 1); !slices.Equal(got, []string{next}) {
		t.Fatalf("after the missed changes: %v, want only %s", got, next)
	}
	// ?lastEventId= works like the header, from the start of the feed.
	ch2, stop2 := readSSE(t, n2.url+"/api/docs/"+doc+"/events?lastEventId="+ready.id)
	defer stop2()
	if got, _ = changeHashes(t, ch2, 11); !slices.Equal(got, append(append(sent, missed...), next)) {
		t.Fatalf("replay from ready's id: %v", got)
	}
	// A deleted document ends the feed with a deleted event.
	wantStatus(t, call(t, "DELETE", n1.url+"/api/docs/"+doc, nil), 204, "delete")
	if ev := nextEvent(t, ch, "deleted"); ev.id == "" {
		t.Fatalf("deleted event without id: %+v", ev)
	}
}
