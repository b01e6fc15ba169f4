package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/storage"
)

// TestAPIDamagedDocument: a document with a stored chunk that does not load
// is served with what loads and listed as damaged.
func TestAPIDamagedDocument(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(filepath.Join(dir, "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := crdt.NewDocumentID()
	r := crdttest.NewReplica()
	if err := r.SpliceText("text", 0, 0, "kept"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range [][]byte{r.Save(), []byte("\x85\x6f\x4a\x83 not a chunk")} {
		if _, err := st.Append(ctx, id, c, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	s := startServer(t, dir)
	doc, _ := docJSON(t, s, id, "")
	if doc["text"] != "kept" {
		t.Fatalf("damaged document reads %v, want what loads", doc)
	}
	list := call(t, "GET", s.url+"/api/docs", nil)
	wantStatus(t, list, 200, "list")
	docs, _ := list.json(t)["docs"].([]any)
	if len(docs) != 1 {
		t.Fatalf("list: %s", list.body)
	}
	if d, _ := docs[0].(map[string]any)["damaged"].(string); !strings.Contains(d, "set aside") {
		t.Fatalf("list does not report the document damaged: %s", list.body)
	}
	_, metrics := httpGet(t, s.url+"/metrics")
	if !strings.Contains(metrics, `weft_documents_damaged_total{what="load"} 1`) {
		t.Fatal("weft_documents_damaged_total{what=\"load\"} is not 1")
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	// After a restart (and the compaction that dropped the bad chunk from
	// the document), the set-aside chunk still marks it damaged.
	s = startServer(t, dir)
	list = call(t, "GET", s.url+"/api/docs", nil)
	if !strings.Contains(string(list.body), "set aside") {
		t.Fatalf("after a restart the list does not report the damage: %s", list.body)
	}
}
