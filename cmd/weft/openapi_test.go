package main

import (
	"bytes"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/weft-dev/weft/crdt"

	"github.com/weft-dev/weft/cmd/weft/internal/api"
	"github.com/weft-dev/weft/cmd/weft/internal/auth"
)

// The OpenAPI document (openapi.json, served at /api/openapi.json) must be
// a valid OpenAPI 3 document and describe exactly the routes the server
// has: every documented (path, method) is routed, every routed one is
// documented, and real responses fit the documented schemas.

// probeMethods are the methods compared between the document and the
// server. HEAD is served wherever GET is (documented in info.description);
// OPTIONS is not served.
var probeMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH"}

// apiExtraRoutes are the GET routes other parts of the server register
// through api.Config.Extra rather than in (*api.API).routes.
var apiExtraRoutes = []string{"/api/backup", "/api/webhooks/deliveries"}

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiJSON)
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// documentedRoutes returns path template → sorted methods.
func documentedRoutes(doc *openapi3.T) map[string][]string {
	out := map[string][]string{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			out[path] = append(out[path], strings.ToUpper(method))
		}
		slices.Sort(out[path])
	}
	return out
}

func TestOpenAPIDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	// Every operation documents its success, the error shape, and 401/405.
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", name)
			}
			var ok2xx bool
			for code := range op.Responses.Map() {
				if strings.HasPrefix(code, "2") {
					ok2xx = true
				}
			}
			if !ok2xx {
				t.Errorf("%s: no 2xx response", name)
			}
			codes := []string{"401", "405", "429"}
			if op.Security != nil && len(*op.Security) == 0 {
				codes = []string{"405", "429"} // public: no token needed
			}
			for _, code := range codes {
				r := op.Responses.Value(code)
				if r == nil {
					t.Errorf("%s: no %s response", name, code)
					continue
				}
				if mt := r.Value.Content.Get("application/json"); mt == nil || mt.Schema.Ref != "#/components/schemas/Error" {
					t.Errorf("%s: %s response is not the Error schema", name, code)
				}
			}
		}
	}
	// The Op language: every kind crdt.Op accepts.
	var kinds []string
	for _, s := range doc.Components.Schemas["Op"].Value.AnyOf {
		kinds = append(kinds, s.Value.Properties["op"].Value.Enum[0].(string))
	}
	slices.Sort(kinds)
	kinds = slices.Compact(kinds)
	if want := []string{"delete", "increment", "insert", "set", "splice"}; !slices.Equal(kinds, want) {
		t.Errorf("Op kinds = %v, want %v", kinds, want)
	}
	// Security schemes: bearer JWT, the weft_token cookie, ?token=.
	ss := doc.Components.SecuritySchemes
	if s := ss["bearer"]; s == nil || s.Value.Scheme != "bearer" {
		t.Errorf("no bearer security scheme")
	}
	if s := ss["cookie"]; s == nil || s.Value.In != "cookie" || s.Value.Name != auth.TokenCookie {
		t.Errorf("no %s cookie security scheme", auth.TokenCookie)
	}
	if s := ss["query"]; s == nil || s.Value.In != "query" || s.Value.Name != auth.TokenQuery {
		t.Errorf("no ?%s= security scheme", auth.TokenQuery)
	}
	// The event stream is described with its event types.
	ev := doc.Paths.Find("/api/docs/{id}/events").Get
	if ev == nil || ev.Responses.Value("200").Value.Content.Get("text/event-stream") == nil {
		t.Fatalf("GET /api/docs/{id}/events has no text/event-stream response")
	}
	for _, typ := range []string{"ready", "change", "join", "leave", "lagged", "reset", "deleted"} {
		if !strings.Contains(ev.Description, "`event: "+typ+"`") {
			t.Errorf("events description does not describe %q events", typ)
		}
	}
}

// apiSource is the file of (*api.API).routes.
var apiSource = filepath.Join("internal", "api", "api.go")

// openapiJSON is the embedded description the server serves.
var openapiJSON = api.OpenAPIDocument()

// sourceRoutes reads the handle(pattern, methods) calls of (*api.API).routes
// in internal/api/api.go: pattern → sorted methods.
func sourceRoutes(t *testing.T) map[string][]string {
	t.Helper()
	fset := gotoken.NewFileSet()
	f, err := parser.ParseFile(fset, apiSource, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "routes" || fn.Recv == nil {
			return true
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 2 {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "handle" {
				return true
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				return true // the extra routes: a variable pattern
			}
			pattern, _ := strconv.Unquote(lit.Value)
			methods, ok := call.Args[1].(*ast.CompositeLit)
			if !ok {
				t.Errorf("internal/api/api.go: handle(%s, ...): methods are not a map literal", pattern)
				return true
			}
			for _, el := range methods.Elts {
				kv := el.(*ast.KeyValueExpr)
				m, _ := strconv.Unquote(kv.Key.(*ast.BasicLit).Value)
				out[pattern] = append(out[pattern], m)
			}
			slices.Sort(out[pattern])
			return true
		})
		return false
	})
	if len(out) == 0 {
		t.Fatal("found no handle(...) calls in (*api.API).routes")
	}
	return out
}

// apiLiterals returns the string literals of the non-test Go files of this
// command and its internal packages that look like API routes
// ("/api/x..."): candidates for routes registered outside
// (*api.API).routes, such as api.Config.Extra.
func apiLiterals(t *testing.T) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	var out []string
	fset := gotoken.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == gotoken.STRING {
				s, err := strconv.Unquote(lit.Value)
				if err == nil && strings.HasPrefix(s, "/api/") && len(s) > len("/api/") && !strings.ContainsAny(s, " \n") {
					s, _, _ = strings.Cut(s, "?")
					out = append(out, strings.TrimSuffix(s, "/"))
				}
			}
			return true
		})
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// routed reports whether the server has a handler for method on path: not
// the 405 of a route without that method, not the 404 of the catch-all.
func routed(t *testing.T, base, method, path string) bool {
	t.Helper()
	req, _ := http.NewRequest(method, base+path, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	// A backup or an event stream could be long: the status and an error
	// body are all that matter.
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	var e struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(b, &e)
	switch {
	case res.StatusCode == http.StatusMethodNotAllowed && e.Error.Code == "method_not_allowed":
		return false
	case res.StatusCode == http.StatusNotFound && strings.HasPrefix(e.Error.Message, "no such API endpoint"):
		return false
	}
	return true
}

func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	documented := documentedRoutes(doc)

	// (*api.API).routes as written in internal/api/api.go equals the document, minus the
	// routes registered elsewhere.
	src := sourceRoutes(t)
	for path, methods := range documented {
		if slices.Contains(apiExtraRoutes, path) {
			continue
		}
		if !slices.Equal(src[path], methods) {
			t.Errorf("%s: documented methods %v, (*api.API).routes registers %v", path, methods, src[path])
		}
	}
	for path, methods := range src {
		if documented[path] == nil {
			t.Errorf("(*api.API).routes registers %s %v: not in openapi.json", path, methods)
		}
	}

	// The running server: a valid document id that does not exist, so that
	// no probe changes anything (DELETE, PUT and POST of an unknown
	// document, or without a body, fail after routing).
	s := startServer(t, "")
	id := crdt.NewDocumentID()
	concrete := func(p string) string { return strings.ReplaceAll(p, "{id}", id) }

	res, err := http.Get(s.url + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(served, openapiJSON) || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /api/openapi.json: %d %s, %d bytes; want 200 application/json with openapi.json", res.StatusCode, res.Header.Get("Content-Type"), len(served))
	}

	// Candidates: everything documented, in api.go, or named in the sources.
	candidates := map[string]bool{}
	for p := range documented {
		candidates[p] = true
	}
	for p := range src {
		candidates[p] = true
	}
	for _, p := range apiLiterals(t) {
		candidates[p] = true
	}
	for path := range candidates {
		for _, m := range probeMethods {
			doc := slices.Contains(documented[path], m)
			got := routed(t, s.url, m, concrete(path))
			switch {
			case doc && !got:
				t.Errorf("%s %s is documented but the server does not route it", m, path)
			case !doc && got:
				t.Errorf("%s %s is routed but not documented in openapi.json", m, path)
			}
			if doc && !slices.Contains(apiExtraRoutes, path) {
				if p := apiPattern(m, concrete(path), nil); p != path {
					t.Errorf("%s %s is served by the pattern %q: the document's path should be the pattern", m, path, p)
				}
			}
		}
	}
}

// TestOpenAPIResponsesFitSchemas checks real responses against the
// document's schemas.
func TestOpenAPIResponsesFitSchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	s := startServer(t, "")
	schema := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	call := func(method, path, body string, wantStatus int, schemaName string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, wantStatus)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: not JSON: %v: %s", method, path, err, b)
		}
		if err := schema(schemaName).VisitJSON(v); err != nil {
			t.Errorf("%s %s: the response does not fit %s: %v\n%s", method, path, schemaName, err, b)
		}
		m, _ := v.(map[string]any)
		return m
	}
	created := call("POST", "/api/docs", `{"content":{"title":"Notes","text":"Hello","items":[]}}`, 201, "DocInfo")
	id, _ := created["id"].(string)
	heads, _ := created["heads"].(string)
	p := "/api/docs/" + id
	edit := `{"message":"m","ops":[{"op":"splice","path":"/text","pos":0,"del":0,"insert":"Hi "},` +
		`{"op":"set","path":"/n","value":1,"type":"counter"},{"op":"increment","path":"/n","by":2},` +
		`{"op":"insert","path":"/items/-","value":{"a":1}},{"op":"splice","path":"/items","pos":1,"del":0,"values":[2,3]},` +
		`{"op":"delete","path":"/title"}]}`
	var body any
	json.Unmarshal([]byte(edit), &body)
	if err := schema("ChangesRequest").VisitJSON(body); err != nil {
		t.Errorf("a valid edit does not fit ChangesRequest: %v", err)
	}
	call("POST", p+"/changes", edit, 200, "EditResult")
	call("POST", p+"/changes", `{"ifHeads":"`+heads+`","ops":[{"op":"delete","path":"/n"}]}`, 412, "Error")
	call("GET", "/api/docs?limit=1", "", 200, "DocList")
	call("GET", p+"/history", "", 200, "History")
	call("POST", p+"/restore", `{"heads":"`+heads+`"}`, 200, "EditResult")
	call("POST", p+"/versions", `{"name":"v1"}`, 201, "Version")
	call("POST", p+"/versions", `{"name":"v1"}`, 409, "Error")
	call("GET", p+"/versions", "", 200, "VersionList")
	call("POST", p+"/sync", `{"peerId":"p1","messages":[],"wait":0}`, 200, "SyncResponse")
	call("GET", "/api/me?doc="+id, "", 200, "Me")
	call("GET", p+"?at=zz", "", 400, "Error")
	call("GET", "/api/nope", "", 404, "Error")
	call("PATCH", p, "", 405, "Error")
	call("POST", "/api/docs", `{"content":{"t":"`+strings.Repeat("x", api.MaxBody)+`"}}`, 413, "Error")
}
