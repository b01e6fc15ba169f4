package storagetest

import (
	"bytes"
	"testing"
)

func testSetAside(t *testing.T, e *env) {
	const doc = "doc-a"
	if got, err := e.s.SetAsideChunks(doc); err != nil || len(got) != 0 {
		t.Fatalf("SetAsideChunks before any = %v, %v; want none", got, err)
	}
	if docs, err := e.s.SetAsideDocs(); err != nil || len(docs) != 0 {
		t.Fatalf("SetAsideDocs before any = %v, %v; want none", docs, err)
	}
	appendChunk(t, e.s, doc, "good", 1)
	for _, c := range []string{"bad one", "bad two"} {
		if err := e.s.SetAside(t.Context(), doc, []byte(c), "does not load: "+c); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.Delete(t.Context(), doc); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	got, err := e.s.SetAsideChunks(doc)
	if err != nil || len(got) != 2 {
		t.Fatalf("SetAsideChunks after delete and reopen = %v, %v; want 2", got, err)
	}
	if docs, err := e.s.SetAsideDocs(); err != nil || len(docs) != 1 || docs[0] != doc {
		t.Fatalf("SetAsideDocs = %v, %v; want [%s]", docs, err, doc)
	}
	if !bytes.Equal(got[0].Chunk, []byte("bad one")) || got[1].Reason != "does not load: bad two" || got[0].At.IsZero() {
		t.Fatalf("set-aside chunks read back wrong: %+v", got)
	}
}
