package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
	"github.com/weft-dev/weft/storage"

	"github.com/weft-dev/weft/cmd/weft/internal/backup"
	"github.com/weft-dev/weft/storage/testwait"
)

// stored is what a document holds: its heads and its "text".
type stored struct {
	heads crdt.Heads
	text  string
}

// seedDocs writes documents with real history into the data file at dir,
// as the server stores them: one change chunk per Append, one compacted
// into a snapshot plus later changes, one with two concurrent branches.
func seedDocs(t *testing.T, dir string) map[string]stored {
	t.Helper()
	st, err := storage.Open(filepath.Join(dir, "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	appendChange := func(id string, r *crdttest.Replica) uint64 {
		t.Helper()
		seq, err := st.Append(ctx, id, r.LastChange(), 1)
		if err != nil {
			t.Fatal(err)
		}
		return seq
	}
	edit := func(r *crdttest.Replica, s string) {
		t.Helper()
		cur, err := r.Text("text")
		if err != nil {
			t.Fatal(err)
		}
		if err := r.SpliceText("text", len([]rune(cur)), 0, s); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]stored{}
	note := func(id string, r *crdttest.Replica) {
		txt, _ := r.Text("text")
		want[id] = stored{heads: r.Heads(), text: txt}
	}
	// Linear histories.
	for i := range 3 {
		id := crdt.NewDocumentID()
		r := crdttest.NewReplica()
		for j := range 5 + i {
			edit(r, fmt.Sprintf("d%d-e%d ", i, j))
			appendChange(id, r)
		}
		note(id, r)
	}
	// Compacted: a snapshot, then more changes.
	id := crdt.NewDocumentID()
	r := crdttest.NewReplica()
	var last uint64
	for j := range 4 {
		edit(r, fmt.Sprintf("c%d ", j))
		last = appendChange(id, r)
	}
	if err := st.Compact(ctx, id, r.Save(), last, 4); err != nil {
		t.Fatal(err)
	}
	edit(r, "after ")
	appendChange(id, r)
	note(id, r)
	// Two concurrent branches: two heads.
	id = crdt.NewDocumentID()
	a := crdttest.NewReplica()
	edit(a, "base ")
	appendChange(id, a)
	b, err := crdttest.LoadReplica(a.Save())
	if err != nil {
		t.Fatal(err)
	}
	edit(a, "A ")
	appendChange(id, a)
	edit(b, "B ")
	appendChange(id, b)
	merged := storedReplicaAt(t, st, id)
	if len(merged.Heads()) != 2 {
		t.Fatalf("branched document has heads %v", merged.Heads())
	}
	note(id, merged)
	return want
}

func storedReplicaAt(t *testing.T, st *storage.Store, id string) *crdttest.Replica {
	t.Helper()
	c, err := st.Load(id)
	if err != nil {
		t.Fatal(err)
	}
	r, err := crdttest.LoadReplica(c.Concat())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkDocs asserts that the data file in dir holds exactly want.
func checkDocs(t *testing.T, dir string, want map[string]stored) {
	t.Helper()
	st, err := storage.OpenReadOnly(filepath.Join(dir, "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	metas, err := st.List("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != len(want) {
		t.Errorf("%d documents, want %d", len(metas), len(want))
	}
	for id, w := range want {
		r := storedReplicaAt(t, st, id)
		txt, _ := r.Text("text")
		if !r.Heads().Equal(w.heads) || txt != w.text {
			t.Errorf("%s: heads %v text %q, want %v %q", id, r.Heads(), txt, w.heads, w.text)
		}
	}
}

// runCmd runs a weft subcommand and returns its stderr.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	return stderr.String(), err
}

// tarEntries lists an archive's entry names and contents.
func tarEntries(t *testing.T, path string) ([]string, map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		files[h.Name] = b
	}
}

func TestExportImportOfflineSameHeads(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	want := seedDocs(t, src)
	archive := filepath.Join(t.TempDir(), "out.tar")

	stderr, err := runCmd(t, "export", "--data", src, "-o", archive)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, fmt.Sprintf("exported %d/%d documents", len(want), len(want))) {
		t.Errorf("export progress: %q", stderr)
	}
	names, files := tarEntries(t, archive)
	if len(names) != len(want)+1 || names[len(names)-1] != backup.ManifestName {
		t.Fatalf("archive entries %v: want every document then %s", names, backup.ManifestName)
	}
	var man backup.Manifest
	if err := json.Unmarshal(files[backup.ManifestName], &man); err != nil {
		t.Fatal(err)
	}
	if man.Format != backup.Format || len(man.Documents) != len(want) || man.StorageID == "" {
		t.Errorf("manifest %+v", man)
	}
	for id := range want {
		// Each entry is a valid Automerge file on its own.
		r, err := crdttest.LoadReplica(files[id+backup.DocExt])
		if err != nil || !r.Heads().Equal(want[id].heads) {
			t.Errorf("%s%s: %v, heads %v", id, backup.DocExt, err, r.Heads())
		}
	}

	stderr, err = runCmd(t, "import", "--data", dst, "-i", archive)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, fmt.Sprintf("%d created, 0 merged, 0 unchanged, 0 failed", len(want))) {
		t.Errorf("import summary: %q", stderr)
	}
	checkDocs(t, dst, want)

	// Importing again changes nothing.
	stderr, err = runCmd(t, "import", "--data", dst, "-i", archive)
	if err != nil || !strings.Contains(stderr, fmt.Sprintf("0 created, 0 merged, %d unchanged", len(want))) {
		t.Errorf("second import: %v\n%s", err, stderr)
	}
	checkDocs(t, dst, want)

	// --doc exports one document.
	one := filepath.Join(t.TempDir(), "one.tar")
	var id string
	for id = range want {
		break
	}
	if _, err := runCmd(t, "export", "--data", src, "--doc", id, "-o", one); err != nil {
		t.Fatal(err)
	}
	if names, _ := tarEntries(t, one); len(names) != 2 || names[0] != id+backup.DocExt {
		t.Errorf("--doc archive: %v", names)
	}
	// The output is never overwritten by accident.
	if _, err := runCmd(t, "export", "--data", src, "-o", one); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("export over an existing file: %v", err)
	}
}

func TestImportMergesIntoExistingDocument(t *testing.T) {
	src := t.TempDir()
	st, err := storage.Open(filepath.Join(src, "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	id := crdt.NewDocumentID()
	base := crdttest.NewReplica()
	base.SpliceText("text", 0, 0, "base")
	if _, err := st.Append(context.Background(), id, base.LastChange(), 1); err != nil {
		t.Fatal(err)
	}
	st.Close()
	archive := filepath.Join(t.TempDir(), "a.tar")
	if _, err := runCmd(t, "export", "--data", src, "-o", archive); err != nil {
		t.Fatal(err)
	}
	// The target holds the same document, edited concurrently.
	dst := t.TempDir()
	st, err = storage.Open(filepath.Join(dst, "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crdttest.LoadReplica(base.Save())
	other.SpliceText("text", 4, 0, " there")
	ctx := context.Background()
	st.Append(ctx, id, base.LastChange(), 1)
	st.Append(ctx, id, other.LastChange(), 1)
	st.Close()
	// And the source moves on.
	base.SpliceText("text", 0, 0, ">")
	st, _ = storage.Open(filepath.Join(src, "weft.db"), nil)
	st.Append(ctx, id, base.LastChange(), 1)
	st.Close()
	os.Remove(archive)
	if _, err := runCmd(t, "export", "--data", src, "-o", archive); err != nil {
		t.Fatal(err)
	}
	stderr, err := runCmd(t, "import", "--data", dst, "-i", archive)
	if err != nil || !strings.Contains(stderr, "0 created, 1 merged") {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	st, _ = storage.OpenReadOnly(filepath.Join(dst, "weft.db"), nil)
	defer st.Close()
	r := storedReplicaAt(t, st, id)
	if txt, _ := r.Text("text"); txt != ">base there" || len(r.Heads()) != 2 {
		t.Errorf("merged text %q heads %v", txt, r.Heads())
	}
	if m, _ := st.Meta(id); m.Changes != 3 {
		t.Errorf("change count %d, want 3", m.Changes)
	}
}

func TestExportRefusesAHeldDataFile(t *testing.T) {
	dir := t.TempDir()
	seedDocs(t, dir)
	st, err := storage.Open(filepath.Join(dir, "weft.db"), nil) // a running server
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, args := range [][]string{
		{"export", "--data", dir, "-o", filepath.Join(t.TempDir(), "x.tar")},
		{"import", "--data", dir, "-i", os.DevNull},
		{"backup", "--data", dir, "-o", filepath.Join(t.TempDir(), "b.db")},
	} {
		_, err := runCmd(t, args...)
		if err == nil || !strings.Contains(err.Error(), "--server") || !strings.Contains(err.Error(), "in use") {
			t.Errorf("%s on a held data file: %v", args[0], err)
		}
	}
	if _, err := runCmd(t, "export", "--data", dir, "--server", "http://x", "-o", "x"); err == nil {
		t.Error("--data with --server accepted")
	}
}

// writeTar writes entries (name, bytes) as an archive.
func writeTar(t *testing.T, entries ...[2]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		tw.WriteHeader(&tar.Header{Name: e[0], Mode: 0o644, Size: int64(len(e[1])), Typeflag: tar.TypeReg})
		tw.Write([]byte(e[1]))
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "in.tar")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func TestImportRejectsBadFilesAndKeepsGoing(t *testing.T) {
	good := crdttest.NewReplica()
	good.SpliceText("text", 0, 0, "fine")
	goodID, badID, cutID := crdt.NewDocumentID(), crdt.NewDocumentID(), crdt.NewDocumentID()
	valid := good.Save()
	// A change chunk with a broken body: the magic bytes, then garbage.
	garbage := append([]byte{0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 1, 200}, bytes.Repeat([]byte{0xff}, 64)...)
	archive := writeTar(t,
		[2]string{badID + backup.DocExt, string(garbage)},
		[2]string{"../../etc/passwd" + backup.DocExt, string(valid)},
		[2]string{cutID + backup.DocExt, string(valid[:len(valid)/2])},
		[2]string{goodID + backup.DocExt, string(valid)},
	)
	dst := t.TempDir()
	stderr, err := runCmd(t, "import", "--data", dst, "-i", archive)
	if err == nil {
		t.Fatal("import of bad files succeeded")
	}
	for _, want := range []string{"3 documents not imported", "no manifest.json", badID, cutID, "not a document id"} {
		if !strings.Contains(err.Error()+stderr, want) {
			t.Errorf("error does not mention %q: %v\n%s", want, err, stderr)
		}
	}
	checkDocs(t, dst, map[string]stored{goodID: {heads: good.Heads(), text: "fine"}})

	// A manifest naming a document the archive lacks, or with another
	// checksum, fails the import too.
	man, _ := json.Marshal(backup.Manifest{Format: backup.Format, Documents: []backup.ManifestDoc{
		{ID: goodID, SHA256: "00"}, {ID: badID, SHA256: "00"},
	}})
	archive = writeTar(t, [2]string{goodID + backup.DocExt, string(valid)}, [2]string{backup.ManifestName, string(man)})
	_, err = runCmd(t, "import", "--data", t.TempDir(), "-i", archive)
	if err == nil || !strings.Contains(err.Error(), "checksum") || !strings.Contains(err.Error(), "missing from the archive") {
		t.Errorf("manifest mismatch: %v", err)
	}
}

func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	st, err := storage.Open(filepath.Join(dir, "weft.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	chunk := crdttest.NewReplica()
	chunk.SpliceText("text", 0, 0, strings.Repeat("x", 1000))
	c := chunk.LastChange()
	committed := map[string]bool{}
	for range 50 {
		id := crdt.NewDocumentID()
		if _, err := st.Append(ctx, id, c, 1); err != nil {
			t.Fatal(err)
		}
		committed[id] = true
	}
	// Writers keep going during the backups.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writes atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := st.Append(ctx, crdt.NewDocumentID(), c, 1); err != nil {
					t.Error(err)
					return
				}
				writes.Add(1)
			}
		}()
	}
	srv := httptest.NewServer(backup.Handler(st))
	defer srv.Close()
	testwait.Until(t, testwait.Timeout, "20 writes under way", func() bool { return writes.Load() >= 20 })

	// The raw handler: headers and a body that opens.
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="weft-backup-`) ||
		resp.Header.Get(backup.HeaderSHA256) == "" || resp.ContentLength != int64(len(body)) {
		t.Errorf("backup response %d %v, %d bytes", resp.StatusCode, resp.Header, len(body))
	}

	out := filepath.Join(t.TempDir(), "weft-backup.db")
	stderr, err := runCmd(t, "backup", "--server", srv.URL, "-o", out)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "verified") {
		t.Errorf("backup output %q", stderr)
	}
	b, err := storage.OpenReadOnly(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	metas, err := b.List("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) < len(committed)+20 {
		t.Errorf("backup holds %d documents; %d were committed before it", len(metas), len(committed)+20)
	}
	for id := range committed {
		if _, err := b.Load(id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if b.StorageID() != st.StorageID() {
		t.Errorf("backup storage id %s, want %s", b.StorageID(), st.StorageID())
	}
	// A POST is refused.
	resp, err = http.Post(srv.URL, "text/plain", nil)
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", resp.StatusCode)
		}
	}
}

func TestBackupOffline(t *testing.T) {
	dir := t.TempDir()
	want := seedDocs(t, dir)
	out := filepath.Join(t.TempDir(), "copy", "weft.db")
	os.MkdirAll(filepath.Dir(out), 0o755)
	if stderr, err := runCmd(t, "backup", "--data", dir, "-o", out); err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	checkDocs(t, filepath.Dir(out), want)
	if _, err := runCmd(t, "backup", "--data", dir, "-o", out); err == nil {
		t.Error("backup overwrote its output without --force")
	}
}

func TestExportImportThroughServers(t *testing.T) {
	src := t.TempDir()
	want := seedDocs(t, src)
	from := startServer(t, src)
	archive := filepath.Join(t.TempDir(), "online.tar")
	stderr, err := runCmd(t, "export", "--server", from.url, "-o", archive)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	_, files := tarEntries(t, archive)
	var man backup.Manifest
	if err := json.Unmarshal(files[backup.ManifestName], &man); err != nil || len(man.Documents) != len(want) {
		t.Fatalf("manifest %+v: %v", man, err)
	}
	for _, d := range man.Documents {
		if d.Heads != want[d.ID].heads.String() {
			t.Errorf("%s: manifest heads %q, want %q", d.ID, d.Heads, want[d.ID].heads)
		}
	}

	dst := t.TempDir()
	to := startServer(t, dst)
	stderr, err = runCmd(t, "import", "--server", to.url, "-i", archive)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, fmt.Sprintf("%d created", len(want))) {
		t.Errorf("import summary %q", stderr)
	}
	if err := to.stop(); err != nil {
		t.Fatal(err)
	}
	checkDocs(t, dst, want)
}
