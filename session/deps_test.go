package session_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	modPath   = "github.com/weft-dev/weft"
	automerge = "github.com/automerge/automerge-go"
)

// TestDeps keeps the import arrows of STYLE.md ("The shape of the house")
// true for every package of the module (test imports excluded):
//
//	cmd/weft ──► session ──► crdt ──► automerge-go (cgo)
//	                └──────► storage ──► bbolt
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	// -e: a package another team is editing may not build right now; its
	// imports are still listed.
	cmd := exec.Command(goBin, "list", "-e", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .Deps \" \"}}", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	type pkg struct{ imports, deps []string }
	pkgs := map[string]pkg{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) != 3 {
			t.Fatalf("unexpected go list line %q", line)
		}
		if strings.Contains(parts[0], "/node_modules/") {
			continue
		}
		pkgs[parts[0]] = pkg{strings.Fields(parts[1]), strings.Fields(parts[2])}
	}
	for _, p := range []string{"crdt", "storage", "session"} {
		if _, ok := pkgs[modPath+"/"+p]; !ok {
			t.Fatalf("package %s not listed by go list ./...", p)
		}
	}
	within := func(path, base string) bool { return path == base || strings.HasPrefix(path, base+"/") }
	forbid := func(from string, list []string, what string, bad func(string) bool) {
		t.Helper()
		for _, d := range list {
			if bad(d) {
				t.Errorf("%s depends on %s (%s)", from, d, what)
			}
		}
	}

	crdtPkg := pkgs[modPath+"/crdt"]
	forbid("crdt", crdtPkg.deps, "crdt imports neither session nor storage", func(d string) bool {
		return within(d, modPath+"/session") || within(d, modPath+"/storage")
	})
	if !slices.Contains(crdtPkg.imports, automerge) {
		t.Errorf("crdt does not import %s: the automerge check below proves nothing", automerge)
	}

	forbid("storage", pkgs[modPath+"/storage"].deps, "storage imports no weft package and no automerge-go", func(d string) bool {
		return within(d, modPath) || within(d, automerge)
	})

	sess := pkgs[modPath+"/session"]
	forbid("session", sess.deps, "session never imports cmd/...", func(d string) bool { return within(d, modPath+"/cmd") })
	forbid("session", sess.imports, "session reaches automerge-go only through crdt", func(d string) bool { return within(d, automerge) })

	// crdt/crdttest is crdt's own test tooling (Replica, for test and
	// load-tool clients).
	for path, p := range pkgs {
		if path == modPath+"/crdt" || path == modPath+"/crdt/crdttest" {
			continue
		}
		forbid(path, p.imports, "only crdt and crdt/crdttest import automerge-go", func(d string) bool { return within(d, automerge) })
	}
}
