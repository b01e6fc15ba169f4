// Command weft-lint enforces the size limits that keep the code readable
// for a newcomer: no source file over 600 lines, no function over 80 lines
// and no command over 1,500 lines of package main (a command's main wires;
// the work lives in packages). It checks every non-test .go file git
// tracks, skipping node_modules and generated files, prints one line per
// offender and exits 1 if there is any. Run it from the module root
// (make lint does).
package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Limits.
const (
	maxFileLines    = 600
	maxFuncLines    = 80
	maxCommandLines = 1500
)

func main() {
	os.Exit(run(os.Stdout, os.Stderr))
}

func run(stdout, stderr io.Writer) int {
	paths, err := gitGoFiles()
	if err != nil {
		fmt.Fprintln(stderr, "weft-lint:", err)
		return 2
	}
	found, err := check(".", candidates(paths))
	if err != nil {
		fmt.Fprintln(stderr, "weft-lint:", err)
		return 2
	}
	for _, f := range found {
		fmt.Fprintln(stdout, f)
	}
	if len(found) > 0 {
		fmt.Fprintf(stderr, "weft-lint: %d offenders (limits: %d lines a file, %d a function, %d of package main a command)\n",
			len(found), maxFileLines, maxFuncLines, maxCommandLines)
		return 1
	}
	return 0
}

// gitGoFiles lists the .go files git tracks under the working directory.
func gitGoFiles() ([]string, error) {
	out, err := exec.Command("git", "ls-files", "-z", "*.go").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	var paths []string
	for _, p := range strings.Split(string(out), "\x00") {
		if p != "" {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// candidates drops test files and anything under node_modules.
func candidates(paths []string) []string {
	var keep []string
	for _, p := range paths {
		slashed := "/" + filepath.ToSlash(p)
		if strings.HasSuffix(p, "_test.go") || strings.Contains(slashed, "/node_modules/") {
			continue
		}
		keep = append(keep, p)
	}
	return keep
}

// finding is one offender.
type finding struct {
	pos  string // file:line, or a command's directory
	what string
}

func (f finding) String() string { return f.pos + ": " + f.what }

// check parses each file (paths relative to root) and returns the
// offenders, sorted by position. Files that no longer exist in the work
// tree are skipped; generated files are not counted at all.
func check(root string, paths []string) ([]finding, error) {
	fset := token.NewFileSet()
	var found []finding
	mainLines := map[string]int{} // directory -> lines of package main
	for _, p := range paths {
		src, err := os.ReadFile(filepath.Join(root, p))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, p, src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing: %w", err)
		}
		if ast.IsGenerated(f) {
			continue
		}
		n := countLines(src)
		if n > maxFileLines {
			found = append(found, finding{p + ":1", fmt.Sprintf("file has %d lines (limit %d)", n, maxFileLines)})
		}
		found = append(found, longFuncs(fset, f)...)
		if f.Name.Name == "main" {
			mainLines[filepath.Dir(p)] += n
		}
	}
	for dir, n := range mainLines {
		if n > maxCommandLines {
			found = append(found, finding{dir + "/", fmt.Sprintf("command has %d lines of non-test package main (limit %d)", n, maxCommandLines)})
		}
	}
	sort.Slice(found, func(i, j int) bool { return lessPos(found[i].pos, found[j].pos) })
	return found, nil
}

// longFuncs reports the function declarations and function literals of f
// over the limit. A literal is measured on its own, so one inside a long
// function is reported only if it is itself too long.
func longFuncs(fset *token.FileSet, f *ast.File) []finding {
	var found []finding
	report := func(name string, from, to token.Pos) {
		start, end := fset.Position(from), fset.Position(to)
		if n := end.Line - start.Line + 1; n > maxFuncLines {
			found = append(found, finding{fmt.Sprintf("%s:%d", start.Filename, start.Line),
				fmt.Sprintf("%s has %d lines (limit %d)", name, n, maxFuncLines)})
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch fn := n.(type) {
		case *ast.FuncDecl:
			report(funcName(fn), fn.Pos(), fn.End())
		case *ast.FuncLit:
			report("function literal", fn.Pos(), fn.End())
		}
		return true
	})
	return found
}

// funcName is "function F" or "method (T).M".
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return "function " + fn.Name.Name
	}
	var b bytes.Buffer
	t := fn.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			b.WriteString("*")
			t = x.X
			continue
		case *ast.IndexExpr:
			t = x.X
			continue
		case *ast.IndexListExpr:
			t = x.X
			continue
		case *ast.Ident:
			b.WriteString(x.Name)
		}
		break
	}
	return fmt.Sprintf("method (%s).%s", b.String(), fn.Name.Name)
}

// countLines counts lines the way wc -l does, plus an unterminated last
// line.
func countLines(src []byte) int {
	n := bytes.Count(src, []byte{'\n'})
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return n
}

// lessPos orders "file:line" by file, then numerically by line.
func lessPos(a, b string) bool {
	fa, la := splitPos(a)
	fb, lb := splitPos(b)
	if fa != fb {
		return fa < fb
	}
	return la < lb
}

func splitPos(p string) (string, int) {
	i := strings.LastIndexByte(p, ':')
	if i < 0 {
		return p, 0
	}
	var n int
	if _, err := fmt.Sscanf(p[i+1:], "%d", &n); err != nil {
		return p, 0
	}
	return p[:i], n
}
