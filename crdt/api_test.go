package crdt_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/crdt/crdttest"
)

// setupOps builds the document most API tests start from.
var setupOps = []crdt.Op{
	{Op: "set", Path: "/title", Value: raw(`"Notes"`)},
	{Op: "set", Path: "/text", Value: raw(`"hello world"`)},
	{Op: "set", Path: "/items", Value: raw(`[1, 2, 3]`)},
	{Op: "set", Path: "/meta", Value: raw(`{"a": "x", "b/c": {"d~e": true}}`), Type: "string"},
	{Op: "set", Path: "/n", Value: raw(`5`), Type: "counter"},
}

const setupJSON = `{"items":[1,2,3],"meta":{"a":"x","b/c":{"d~e":true}},"n":5,"text":"hello world","title":"Notes"}`

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func mustEdit(t *testing.T, e crdt.Engine, ed crdt.Edit) crdt.Result {
	t.Helper()
	res, err := e.Edit(context.Background(), ed)
	if err != nil {
		t.Fatalf("Edit: %v", err)
	}
	return res
}

func view(t *testing.T, e crdt.Engine, v crdt.View) string {
	t.Helper()
	b, err := e.View(context.Background(), v)
	if err != nil {
		t.Fatalf("View(%+v): %v", v, err)
	}
	return string(b)
}

// openSetup opens an empty document and applies setupOps.
func openSetup(t *testing.T, e crdt.Engine, doc string) (stored *bytes.Buffer) {
	t.Helper()
	if _, err := e.Open(context.Background(), doc, nil); err != nil {
		t.Fatal(err)
	}
	res := mustEdit(t, e, crdt.Edit{Doc: doc, Ops: setupOps, Message: "setup"})
	if res.NChanges != 1 {
		t.Fatalf("setup: %d changes", res.NChanges)
	}
	return bytes.NewBuffer(res.Changes)
}

func TestEditOps(t *testing.T) {
	tests := []struct {
		name string
		ops  []crdt.Op
		want string // whole document as JSON
		err  string // substring of the ErrBadEdit message
	}{
		{name: "set map key text", ops: []crdt.Op{{Op: "set", Path: "/title", Value: raw(`"Plans"`)}},
			want: strings.Replace(setupJSON, `"Notes"`, `"Plans"`, 1)},
		{name: "set nested escaped key", ops: []crdt.Op{{Op: "set", Path: "/meta/b~1c/d~0e", Value: raw(`false`)}},
			want: strings.Replace(setupJSON, `"d~e":true`, `"d~e":false`, 1)},
		{name: "set list index", ops: []crdt.Op{{Op: "set", Path: "/items/1", Value: raw(`2.5`)}},
			want: strings.Replace(setupJSON, `[1,2,3]`, `[1,2.5,3]`, 1)},
		{name: "set new key with object", ops: []crdt.Op{{Op: "set", Path: "/new", Value: raw(`{"z":null,"l":[{"k":"v"}]}`)}},
			want: `{"items":[1,2,3],"meta":{"a":"x","b/c":{"d~e":true}},"n":5,"new":{"l":[{"k":"v"}],"z":null},"text":"hello world","title":"Notes"}`},
		{name: "delete map key", ops: []crdt.Op{{Op: "delete", Path: "/meta"}},
			want: `{"items":[1,2,3],"n":5,"text":"hello world","title":"Notes"}`},
		{name: "delete list element", ops: []crdt.Op{{Op: "delete", Path: "/items/0"}},
			want: strings.Replace(setupJSON, `[1,2,3]`, `[2,3]`, 1)},
		{name: "splice text", ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 0, Del: 5, Insert: "goodbye"}},
			want: strings.Replace(setupJSON, `hello world`, `goodbye world`, 1)},
		{name: "splice text at end", ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 11, Insert: "!"}},
			want: strings.Replace(setupJSON, `hello world`, `hello world!`, 1)},
		{name: "splice list", ops: []crdt.Op{{Op: "splice", Path: "/items", Pos: 1, Del: 1, Values: []json.RawMessage{raw(`"a"`), raw(`[]`)}}},
			want: strings.Replace(setupJSON, `[1,2,3]`, `[1,"a",[],3]`, 1)},
		{name: "insert in list", ops: []crdt.Op{{Op: "insert", Path: "/items/0", Value: raw(`0`)}},
			want: strings.Replace(setupJSON, `[1,2,3]`, `[0,1,2,3]`, 1)},
		{name: "insert appends with -", ops: []crdt.Op{{Op: "insert", Path: "/items/-", Value: raw(`{}`)}},
			want: strings.Replace(setupJSON, `[1,2,3]`, `[1,2,3,{}]`, 1)},
		{name: "increment counter", ops: []crdt.Op{{Op: "increment", Path: "/n", By: -7}},
			want: strings.Replace(setupJSON, `"n":5`, `"n":-2`, 1)},
		{name: "increment creates counter", ops: []crdt.Op{{Op: "increment", Path: "/m"}, {Op: "increment", Path: "/m", By: 2}},
			want: strings.Replace(setupJSON, `"meta"`, `"m":3,"meta"`, 1)},
		{name: "several ops see each other", ops: []crdt.Op{
			{Op: "set", Path: "/l", Value: raw(`[]`)},
			{Op: "insert", Path: "/l/-", Value: raw(`"a"`)},
			{Op: "splice", Path: "/l/0", Pos: 1, Insert: "b"},
			{Op: "delete", Path: "/title"},
		}, want: `{"items":[1,2,3],"l":["ab"],"meta":{"a":"x","b/c":{"d~e":true}},"n":5,"text":"hello world"}`},

		{name: "missing path", ops: []crdt.Op{{Op: "set", Path: "/nope/x", Value: raw(`1`)}}, err: "op 0 (set /nope/x): /nope does not exist"},
		{name: "splice a map", ops: []crdt.Op{{Op: "splice", Path: "/meta", Insert: "x"}}, err: "op 0 (splice /meta): /meta is a map, not text or a list"},
		{name: "splice out of range", ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 5, Del: 7}}, err: "out of range (length 11)"},
		{name: "splice text with values", ops: []crdt.Op{{Op: "splice", Path: "/text", Values: []json.RawMessage{raw(`1`)}}}, err: "not values"},
		{name: "index out of range", ops: []crdt.Op{{Op: "set", Path: "/items/3", Value: raw(`1`)}}, err: "index 3 out of range (list of 3)"},
		{name: "insert past end", ops: []crdt.Op{{Op: "insert", Path: "/items/4", Value: raw(`1`)}}, err: "index 4 out of range"},
		{name: "leading zero index", ops: []crdt.Op{{Op: "delete", Path: "/items/01"}}, err: "not a list index"},
		{name: "set with -", ops: []crdt.Op{{Op: "set", Path: "/items/-", Value: raw(`1`)}}, err: "only works with insert"},
		{name: "insert into map", ops: []crdt.Op{{Op: "insert", Path: "/meta/q", Value: raw(`1`)}}, err: "not a list (use set)"},
		{name: "delete missing key", ops: []crdt.Op{{Op: "delete", Path: "/zzz"}}, err: "/zzz does not exist"},
		{name: "increment text", ops: []crdt.Op{{Op: "increment", Path: "/text"}}, err: "/text is text, not a counter"},
		{name: "into a scalar", ops: []crdt.Op{{Op: "set", Path: "/items/0/x", Value: raw(`1`)}}, err: "/items/0 is a number, not a map or list"},
		{name: "root", ops: []crdt.Op{{Op: "set", Path: "", Value: raw(`{}`)}}, err: "the document root cannot be the target"},
		{name: "bad pointer", ops: []crdt.Op{{Op: "set", Path: "title", Value: raw(`1`)}}, err: "does not start with /"},
		{name: "bad escape", ops: []crdt.Op{{Op: "set", Path: "/a~2", Value: raw(`1`)}}, err: "bad escape"},
		{name: "unknown op", ops: []crdt.Op{{Op: "move", Path: "/title"}}, err: `unknown op "move"`},
		{name: "missing value", ops: []crdt.Op{{Op: "set", Path: "/x"}}, err: "missing value"},
		{name: "invalid JSON value", ops: []crdt.Op{{Op: "set", Path: "/x", Value: raw(`{"a":`)}}, err: "not JSON"},
		{name: "too deep", ops: []crdt.Op{{Op: "set", Path: "/x", Value: raw(strings.Repeat("[", 65) + strings.Repeat("]", 65))}}, err: "nested 65 deep"},
		{name: "unknown type", ops: []crdt.Op{{Op: "set", Path: "/x", Value: raw(`1`), Type: "date"}}, err: `unknown type "date"`},
		{name: "counter needs integer", ops: []crdt.Op{{Op: "set", Path: "/x", Value: raw(`1.5`), Type: "counter"}}, err: "needs an integer"},
		{name: "bad timestamp", ops: []crdt.Op{{Op: "set", Path: "/x", Value: raw(`"yesterday"`), Type: "timestamp"}}, err: "timestamp"},
		{name: "later op fails, earlier undone", ops: []crdt.Op{
			{Op: "set", Path: "/title", Value: raw(`"changed"`)},
			{Op: "splice", Path: "/text", Pos: 99},
		}, err: "op 1 (splice /text)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := crdt.NewLocal(nil)
			openSetup(t, e, "d")
			before, _ := e.Heads(ctx, "d")
			res, err := e.Edit(ctx, crdt.Edit{Doc: "d", Ops: tt.ops, Message: tt.name})
			if tt.err != "" {
				if !errors.Is(err, crdt.ErrBadEdit) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want ErrBadEdit with %q", err, tt.err)
				}
				if after, _ := e.Heads(ctx, "d"); !after.Equal(before) {
					t.Fatal("a failed edit changed the heads")
				}
				if got := view(t, e, crdt.View{Doc: "d"}); got != setupJSON {
					t.Fatalf("a failed edit changed the document: %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.NChanges != 1 || len(res.Heads) != 1 {
				t.Fatalf("%d changes, heads %v", res.NChanges, res.Heads)
			}
			if got := view(t, e, crdt.View{Doc: "d"}); got != tt.want {
				t.Fatalf("document\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	t.Run("error message format", func(t *testing.T) {
		e := crdt.NewLocal(nil)
		openSetup(t, e, "d")
		_, err := e.Edit(context.Background(), crdt.Edit{Doc: "d", Ops: []crdt.Op{{Op: "set", Path: "/x", Value: raw(`1`)}, {Op: "set", Path: "/y", Value: raw(`1`)}, {Op: "splice", Path: "/meta"}}})
		if want := "crdt: bad edit: op 2 (splice /meta): /meta is a map, not text or a list"; err == nil || err.Error() != want {
			t.Fatalf("err = %v\nwant %s", err, want)
		}
	})
}

// Values keep the types the op language promises (checked on the saved
// document, with automerge-go's own reader).
func TestEditValueTypes(t *testing.T) {
	ctx := context.Background()
	e := crdt.NewLocal(nil)
	if _, err := e.Open(ctx, "d", nil); err != nil {
		t.Fatal(err)
	}
	mustEdit(t, e, crdt.Edit{Doc: "d", Ops: []crdt.Op{
		{Op: "set", Path: "/text", Value: raw(`"t"`)},
		{Op: "set", Path: "/str", Value: raw(`"s"`), Type: "string"},
		{Op: "set", Path: "/int", Value: raw(`42`)},
		{Op: "set", Path: "/whole", Value: raw(`3.0`)},
		{Op: "set", Path: "/big", Value: raw(`9007199254740993`)},
		{Op: "set", Path: "/float", Value: raw(`0.25`)},
		{Op: "set", Path: "/null", Value: raw(`null`)},
		{Op: "set", Path: "/c", Value: raw(`7`), Type: "counter"},
		{Op: "set", Path: "/ts", Value: raw(`"2024-05-06T07:08:09.5Z"`), Type: "timestamp"},
		{Op: "set", Path: "/tsms", Value: raw(`1700000000000`), Type: "timestamp"},
		{Op: "set", Path: "/obj", Value: raw(`{"inner":"i","l":["x"]}`)},
	}})
	want := `{"big":9007199254740993,"c":7,"float":0.25,"int":42,"null":null,"obj":{"inner":"i","l":["x"]},"str":"s","text":"t","ts":"2024-05-06T07:08:09.5Z","tsms":"2023-11-14T22:13:20Z","whole":3}`
	if got := view(t, e, crdt.View{Doc: "d"}); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	saved, _ := e.Save(ctx, "d")
	doc, err := automerge.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	for path, k := range map[string]automerge.Kind{
		"text": automerge.KindText, "str": automerge.KindStr, "int": automerge.KindInt64, "whole": automerge.KindInt64,
		"big": automerge.KindInt64, "float": automerge.KindFloat64, "null": automerge.KindNull, "c": automerge.KindCounter,
		"ts": automerge.KindTime, "tsms": automerge.KindTime, "obj": automerge.KindMap,
	} {
		v, err := doc.Path(path).Get()
		if err != nil || v.Kind() != k {
			t.Errorf("%s: %v %v, want %v", path, v, err, k)
		}
	}
	if v, _ := doc.Path("obj", "inner").Get(); v.Kind() != automerge.KindText {
		t.Errorf("nested string is %v, want text", v.Kind())
	}
	// View of a path, plain text, and errors.
	if got := view(t, e, crdt.View{Doc: "d", Path: "/obj/l/0"}); got != `"x"` {
		t.Errorf("view /obj/l/0 = %s", got)
	}
	if got := view(t, e, crdt.View{Doc: "d", Path: "/text", Text: true}); got != "t" {
		t.Errorf("text view = %q", got)
	}
	for _, v := range []crdt.View{{Doc: "d", Path: "/nope"}, {Doc: "d", Path: "/int", Text: true}, {Doc: "d", At: crdt.Heads{{1}}}} {
		if _, err := e.View(ctx, v); !errors.Is(err, crdt.ErrBadEdit) {
			t.Errorf("View(%+v) = %v, want ErrBadEdit", v, err)
		}
	}
}

// An edit based on old heads is concurrent with what happened since.
func TestEditBase(t *testing.T) {
	ctx := context.Background()
	e := crdt.NewLocal(nil)
	openSetup(t, e, "d")
	base, _ := e.Heads(ctx, "d")
	mustEdit(t, e, crdt.Edit{Doc: "d", Ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 11, Insert: " now"}}})
	res := mustEdit(t, e, crdt.Edit{Doc: "d", Base: base, Ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 0, Insert: ">> "}}})
	if res.NChanges != 1 || len(res.Heads) != 2 {
		t.Fatalf("base edit: %d changes, %d heads; want 1 change, 2 heads", res.NChanges, len(res.Heads))
	}
	if got := view(t, e, crdt.View{Doc: "d", Path: "/text", Text: true}); got != ">> hello world now" {
		t.Fatalf("merged text %q", got)
	}
	// Our own actor's change since base forced a fresh actor for the base
	// edit; an edit on top of everything reuses the document's actor.
	res2 := mustEdit(t, e, crdt.Edit{Doc: "d", Ops: []crdt.Op{{Op: "set", Path: "/x", Value: raw(`1`)}}})
	if len(res2.Heads) != 1 {
		t.Fatalf("heads after a plain edit: %v", res2.Heads)
	}
	page, _, err := e.History(ctx, crdt.HistoryQuery{Doc: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if page[0].Actor != page[2].Actor || page[0].Actor == page[1].Actor && page[1].Seq != page[2].Seq+1 {
		t.Fatalf("actors: %s/%d %s/%d %s/%d", page[0].Actor, page[0].Seq, page[1].Actor, page[1].Seq, page[2].Actor, page[2].Seq)
	}
	// Unknown base heads.
	if _, err := e.Edit(ctx, crdt.Edit{Doc: "d", Base: crdt.Heads{{9}}, Ops: setupOps[:1]}); !errors.Is(err, crdt.ErrBadEdit) {
		t.Fatalf("unknown base: %v", err)
	}
	// The reported changes rebuild the document after the stored ones.
	stored, _ := e.Save(ctx, "d")
	r := crdt.NewLocal(nil)
	hs, err := r.Open(ctx, "r", stored)
	if err != nil || !hs.Equal(res2.Heads) {
		t.Fatalf("reload: %v %v", hs, err)
	}
}

func TestRestoreAndViewAt(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := mk(t)
			stored := openSetup(t, e, "d")
			type snap struct {
				heads crdt.Heads
				json  string
			}
			var snaps []snap
			take := func() {
				hs, _ := e.Heads(ctx, "d")
				snaps = append(snaps, snap{hs, view(t, e, crdt.View{Doc: "d"})})
			}
			take()
			for i, ops := range [][]crdt.Op{
				{{Op: "splice", Path: "/text", Pos: 5, Del: 6, Insert: ", weft"}, {Op: "increment", Path: "/n", By: 10}},
				{{Op: "delete", Path: "/meta"}, {Op: "insert", Path: "/items/-", Value: raw(`{"deep":[1]}`)}},
				{{Op: "set", Path: "/items/0", Value: raw(`"one"`), Type: "string"}, {Op: "set", Path: "/title", Value: raw(`7`)}},
				{{Op: "delete", Path: "/items/1"}, {Op: "delete", Path: "/items/1"}, {Op: "set", Path: "/n", Value: raw(`1`)}},
			} {
				res := mustEdit(t, e, crdt.Edit{Doc: "d", Ops: ops, Message: fmt.Sprint("edit ", i)})
				stored.Write(res.Changes)
				take()
			}
			// Views at old heads are the old states, exactly.
			for i, s := range snaps {
				if got := view(t, e, crdt.View{Doc: "d", At: s.heads}); got != s.json {
					t.Fatalf("view at snapshot %d:\n got %s\nwant %s", i, got, s.json)
				}
			}
			// Restoring each old state makes one change, keeping history.
			total := len(snaps)
			for _, i := range []int{0, 2, 1, 4} {
				s := snaps[i]
				res := mustEdit(t, e, crdt.Edit{Doc: "d", Restore: s.heads, Message: fmt.Sprint("restore ", i)})
				stored.Write(res.Changes)
				if got := view(t, e, crdt.View{Doc: "d"}); got != s.json {
					t.Fatalf("after restoring %d:\n got %s\nwant %s", i, got, s.json)
				}
				total++
				page, n, err := e.History(ctx, crdt.HistoryQuery{Doc: "d", Limit: 1})
				if err != nil || n != total || len(page) != 1 || page[0].Message != fmt.Sprint("restore ", i) {
					t.Fatalf("history after restore %d: %+v %d %v", i, page, n, err)
				}
				if res.NChanges != 1 || page[0].Hash != res.Heads[0] {
					t.Fatalf("restore result %+v vs history %v", res, page[0].Hash)
				}
			}
			// Restoring the current state changes nothing.
			hs, _ := e.Heads(ctx, "d")
			res := mustEdit(t, e, crdt.Edit{Doc: "d", Restore: hs})
			if res.NChanges != 0 || len(res.Changes) != 0 || !res.Heads.Equal(hs) {
				t.Fatalf("no-op restore: %+v", res)
			}
			// The reported changes rebuild the document.
			r := crdt.NewLocal(nil)
			if rh, err := r.Open(ctx, "r", stored.Bytes()); err != nil || !rh.Equal(hs) {
				t.Fatalf("reload from reported changes: %v %v, want %v", rh, err, hs)
			}
			for _, bad := range []crdt.Edit{
				{Doc: "d", Restore: crdt.Heads{{7}}},
				{Doc: "d", Restore: hs, Ops: setupOps[:1]},
				{Doc: "d", Restore: hs, Base: hs},
			} {
				if _, err := e.Edit(ctx, bad); !errors.Is(err, crdt.ErrBadEdit) {
					t.Fatalf("Edit(%+v) = %v, want ErrBadEdit", bad, err)
				}
			}
		})
	}
}

func TestHistoryPaging(t *testing.T) {
	ctx := context.Background()
	e := crdt.NewLocal(nil)
	openSetup(t, e, "d")
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	var hashes []crdt.Hash
	for i := 0; i < 24; i++ {
		res := mustEdit(t, e, crdt.Edit{Doc: "d", Message: fmt.Sprint("m", i), Time: t0.Add(time.Duration(i) * time.Second),
			Ops: []crdt.Op{{Op: "increment", Path: "/n"}}})
		hashes = append(hashes, res.Heads[0])
	}
	page, total, err := e.History(ctx, crdt.HistoryQuery{Doc: "d", Skip: 2, Limit: 5})
	if err != nil || total != 25 || len(page) != 5 {
		t.Fatalf("page: %d of %d, %v", len(page), total, err)
	}
	saved, _ := e.Save(ctx, "d")
	doc, _ := automerge.Load(saved)
	for j, m := range page {
		i := 21 - j // newest first, after skipping two
		if m.Hash != hashes[i] || m.Message != fmt.Sprint("m", i) || !m.Time.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("entry %d: %+v, want change %d", j, m, i)
		}
		if m.Seq != uint64(i+2) || len(m.Deps) != 1 || m.Deps[0] != hashes[i-1] {
			t.Fatalf("entry %d: seq %d deps %v", j, m.Seq, m.Deps)
		}
		c, err := doc.Change(automerge.ChangeHash(m.Hash))
		if err != nil || m.Size != len(c.Save()) || m.Actor != c.ActorID() {
			t.Fatalf("entry %d: size %d actor %s vs %v", j, m.Size, m.Actor, err)
		}
	}
	if page, _, _ := e.History(ctx, crdt.HistoryQuery{Doc: "d", Skip: 24}); len(page) != 1 || page[0].Message != "setup" {
		t.Fatalf("oldest page %+v", page)
	}
	if page, _, _ := e.History(ctx, crdt.HistoryQuery{Doc: "d", Skip: 30}); page == nil || len(page) != 0 {
		t.Fatalf("past the end: %#v", page)
	}
	if page, _, _ := e.History(ctx, crdt.HistoryQuery{Doc: "d", Limit: 5000}); len(page) != 25 {
		t.Fatalf("limit 5000 page: %d", len(page))
	}
	if _, _, err := e.History(ctx, crdt.HistoryQuery{Doc: "d", Skip: -1}); !errors.Is(err, crdt.ErrBadEdit) {
		t.Fatalf("negative skip: %v", err)
	}
	// The JSON form the HTTP layer emits.
	b, _ := json.Marshal(page[0])
	want := fmt.Sprintf(`{"hash":"%s","actor":"%s","seq":23,"time":"2025-03-04T05:06:28Z","message":"m21","deps":"%s","size":%d}`,
		hashes[21], page[0].Actor, hashes[20], page[0].Size)
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
	var back crdt.ChangeMeta
	if err := json.Unmarshal(b, &back); err != nil || back.Hash != page[0].Hash || !back.Deps.Equal(page[0].Deps) {
		t.Fatalf("JSON round trip: %+v %v", back, err)
	}
	if b, _ := json.Marshal(crdt.ChangeMeta{Deps: crdt.Heads{}}); strings.Contains(string(b), "time") {
		t.Fatalf("zero time not omitted: %s", b)
	}
	// A limit of zero means 100.
	for i := 0; i < 80; i++ {
		mustEdit(t, e, crdt.Edit{Doc: "d", Ops: []crdt.Op{{Op: "increment", Path: "/n"}}})
	}
	if page, total, _ := e.History(ctx, crdt.HistoryQuery{Doc: "d"}); len(page) != 100 || total != 105 {
		t.Fatalf("default page %d of %d", len(page), total)
	}
}

func TestStats(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := mk(t)
			openSetup(t, e, "d")
			s, err := e.Stats(ctx, "d")
			// A worker measures its load; in this process other tests blur
			// it, and 0 means unknown.
			if err != nil || s.Changes != 1 || s.Memory < 0 || (name == "pool" && s.Memory == 0) {
				t.Fatalf("stats %+v %v", s, err)
			}
			for i := 0; i < 10; i++ {
				mustEdit(t, e, crdt.Edit{Doc: "d", Ops: []crdt.Op{{Op: "splice", Path: "/text", Insert: strings.Repeat("x", 1000)}}})
			}
			s2, err := e.Stats(ctx, "d")
			t.Logf("stats: %+v, after 10 edits %+v", s, s2)
			if err != nil || s2.Changes != 11 || (s.Memory > 0 && s2.Memory <= s.Memory) {
				t.Fatalf("stats after edits %+v (before %+v) %v", s2, s, err)
			}
			// Reopened from its bytes: nothing added since, memory measured.
			saved, _ := e.Save(ctx, "d")
			if _, err := e.Open(ctx, "d2", saved); err != nil {
				t.Fatal(err)
			}
			if s3, err := e.Stats(ctx, "d2"); err != nil || s3.Changes != 0 || (name == "pool" && s3.Memory <= 0) {
				t.Fatalf("stats of reopened %+v %v", s3, err)
			}
			if _, err := e.Stats(ctx, "nope"); !errors.Is(err, crdt.ErrNotOpen) {
				t.Fatalf("stats of unknown doc: %v", err)
			}
		})
	}
}

// syncReplica runs messages between a replica and the engine until both
// are quiet.
func syncReplica(t *testing.T, e crdt.Engine, doc, peer string, r *crdttest.Replica) {
	t.Helper()
	for i := 0; i < 50; i++ {
		msg, ok := r.Reply()
		if !ok {
			return
		}
		res, err := e.Receive(context.Background(), crdt.Receive{Doc: doc, Peer: peer, Msg: msg})
		if err != nil {
			t.Fatal(err)
		}
		if res.Reply != nil {
			if err := r.ReceiveMessage(res.Reply); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("sync did not settle")
}

// A live peer gets a server edit through Result.Others, the same way it
// gets another peer's change, and converges.
func TestEditReachesLivePeer(t *testing.T) {
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := mk(t)
			openSetup(t, e, "d")
			r := crdttest.NewReplica()
			syncReplica(t, e, "d", "p", r)
			if txt, _ := r.Text("text"); txt != "hello world" {
				t.Fatalf("replica text %q", txt)
			}
			for i, ed := range []crdt.Edit{
				{Doc: "d", Peers: []string{"p", "gone"}, Ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 0, Insert: "1 "}}},
				{Doc: "d", Peers: []string{"p"}, Ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 0, Insert: "2 "}}},
			} {
				res := mustEdit(t, e, ed)
				var msg []byte
				for _, o := range res.Others {
					if o.Peer == "p" {
						msg = o.Msg
					}
				}
				if msg == nil {
					t.Fatalf("edit %d: no message for the live peer: %+v", i, res.Others)
				}
				if n, err := crdt.MessageChanges(msg); err != nil || n != 1 {
					t.Fatalf("edit %d: message carries %d changes (%v), want the edit", i, n, err)
				}
				if err := r.ReceiveMessage(msg); err != nil {
					t.Fatal(err)
				}
				if !r.Heads().Equal(res.Heads) {
					t.Fatalf("edit %d: replica at %v, engine at %v", i, r.Heads(), res.Heads)
				}
				syncReplica(t, e, "d", "p", r)
			}
			// The peer's own edit still flows back (the live path is intact).
			if err := r.SpliceText("text", 0, 0, "3 "); err != nil {
				t.Fatal(err)
			}
			syncReplica(t, e, "d", "p", r)
			if got := view(t, e, crdt.View{Doc: "d", Path: "/text", Text: true}); got != "3 2 1 hello world" {
				t.Fatalf("engine text %q", got)
			}
			hs, _ := e.Heads(ctx, "d")
			if !hs.Equal(r.Heads()) {
				t.Fatalf("not converged: %v vs %v", hs, r.Heads())
			}
		})
	}
}

// The rich-text fixture (testdata/richtext, made by Automerge JS with
// splitBlock and marks): automerge-rs 0.5.0 returns each block marker as
// U+FFFC, which View renders as a line break.
func TestRichTextView(t *testing.T) {
	data, err := os.ReadFile("../testdata/richtext/doc.automerge")
	if err != nil {
		t.Fatal(err)
	}
	for name, mk := range engines(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := mk(t)
			if _, err := e.Open(ctx, "rt", data); err != nil {
				t.Fatal(err)
			}
			if got, want := view(t, e, crdt.View{Doc: "rt"}), `{"text":"Hello\nworld of weft\nitem","title":"Notes"}`; got != want {
				t.Fatalf("view\n got %s\nwant %s", got, want)
			}
			if got := view(t, e, crdt.View{Doc: "rt", Path: "/text", Text: true}); got != "Hello\nworld of weft\nitem" {
				t.Fatalf("text %q", got)
			}
			// Splices address the raw text, markers included (one position
			// each), as the editor's do; blocks survive them.
			old, _ := e.Heads(ctx, "rt")
			mustEdit(t, e, crdt.Edit{Doc: "rt", Ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 6, Insert: "!"}}})
			if got := view(t, e, crdt.View{Doc: "rt", Path: "/text", Text: true}); got != "Hello!\nworld of weft\nitem" {
				t.Fatalf("after splice %q", got)
			}
			// Deleting a block marker merges blocks; bringing one back is
			// beyond automerge-go, and a restore that needs it says so.
			mustEdit(t, e, crdt.Edit{Doc: "rt", Ops: []crdt.Op{{Op: "splice", Path: "/text", Pos: 7, Del: 1}}})
			if got := view(t, e, crdt.View{Doc: "rt", Path: "/text", Text: true}); got != "Hello!world of weft\nitem" {
				t.Fatalf("after deleting a marker %q", got)
			}
			_, err := e.Edit(ctx, crdt.Edit{Doc: "rt", Restore: old})
			if !errors.Is(err, crdt.ErrBadEdit) || !strings.Contains(err.Error(), "block markers") {
				t.Fatalf("restore across a deleted marker: %v", err)
			}
			if got := view(t, e, crdt.View{Doc: "rt", At: old, Path: "/text", Text: true}); got != "Hello\nworld of weft\nitem" {
				t.Fatalf("view at old heads %q", got)
			}
		})
	}
}

func TestPlainText(t *testing.T) {
	for in, want := range map[string]string{
		"":                    "",
		"plain":               "plain",
		"\uFFFCa":             "a",
		"\uFFFCa\uFFFCb":      "a\nb",
		"a\uFFFCb":            "a\nb",
		"\uFFFC\uFFFC":        "\n",
		"\uFFFCa\uFFFC\uFFFC": "a\n\n",
	} {
		if got := crdt.PlainText(in); got != want {
			t.Errorf("plainText(%q) = %q, want %q", in, got, want)
		}
	}
}

// ParseChanges reads what automerge-go reads, without it.
func TestParseChanges(t *testing.T) {
	rich, err := os.ReadFile("../testdata/richtext/doc.automerge")
	if err != nil {
		t.Fatal(err)
	}
	js, err := automerge.Load(rich)
	if err != nil {
		t.Fatal(err)
	}
	d := automerge.New()
	d.Path("text").Set(automerge.NewText("x"))
	d.Commit("")
	d.Path("text").Text().Insert(1, strings.Repeat("long text ", 100))
	tm := time.UnixMilli(1700000000123)
	d.Commit("a message ✓", automerge.CommitOptions{Time: &tm})
	d.Merge(js)
	d.Path("n").Set(int64(1))
	d.Commit("merge", automerge.CommitOptions{Time: &time.Time{}})
	chs, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	got, err := crdt.ParseChanges(automerge.SaveChanges(chs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(chs) {
		t.Fatalf("%d metas for %d changes", len(got), len(chs))
	}
	for i, c := range chs {
		m := got[i]
		var deps crdt.Heads
		for _, h := range c.Dependencies() {
			deps = append(deps, crdt.Hash(h))
		}
		crdt.SortHeads(deps)
		raw := c.Timestamp().UnixMilli() // automerge-go reads the raw value as milliseconds
		if m.Hash != crdt.Hash(c.Hash()) || m.Actor != c.ActorID() || m.Seq != c.ActorSeq() || m.Message != c.Message() ||
			!m.Deps.Equal(deps) || m.Size != len(c.Save()) || !m.Time.Equal(crdt.ChangeTime(raw)) {
			t.Fatalf("change %d: %+v\nautomerge-go: %s %s %d %q %v t=%d size %d", i, m, c.Hash(), c.ActorID(), c.ActorSeq(), c.Message(), deps, raw, len(c.Save()))
		}
	}
	// Times: JS seconds and automerge-go milliseconds both read right.
	want := map[string]time.Time{"a message ✓": tm, "blocks": time.Unix(1700000000, 0), "merge": {}}
	for _, m := range got {
		if w, ok := want[m.Message]; ok && !m.Time.Equal(w) {
			t.Errorf("%q: time %v, want %v", m.Message, m.Time, w)
		}
	}
	// A compressed change chunk (type 2: the body deflated, the checksum
	// still the uncompressed chunk's), as automerge-rs may store one;
	// 0.5.0 itself reads it back.
	d2 := automerge.New()
	d2.Path("t").Set(automerge.NewText(strings.Repeat("abcdefgh", 500)))
	h, _ := d2.Commit("big")
	c, _ := d2.Change(h)
	inc := deflateChange(t, c.Save())
	d3 := automerge.New()
	if err := d3.LoadIncremental(inc); err != nil || len(d3.Heads()) != 1 || d3.Heads()[0] != h {
		t.Fatalf("automerge-go rejects the hand-made compressed chunk: %v", err)
	}
	ms, err := crdt.ParseChanges(inc)
	if err != nil || len(ms) != 1 || ms[0].Hash != crdt.Hash(h) || ms[0].Message != "big" || ms[0].Size != len(c.Save()) {
		t.Fatalf("compressed: %+v %v", ms, err)
	}
	bad := bytes.Clone(inc)
	bad[5] ^= 1
	if _, err := crdt.ParseChanges(bad); !errors.Is(err, crdt.ErrCorrupt) {
		t.Fatalf("compressed chunk with wrong checksum: %v", err)
	}
	for name, in := range map[string][]byte{
		"document chunk": rich,
		"truncated":      automerge.SaveChanges(chs)[:50],
		"garbage":        []byte("not automerge"),
	} {
		if _, err := crdt.ParseChanges(in); !errors.Is(err, crdt.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if ms, err := crdt.ParseChanges(nil); err != nil || len(ms) != 0 {
		t.Fatalf("empty: %v %v", ms, err)
	}
}

// deflateChange compresses a change chunk as automerge-rs does.
func deflateChange(t *testing.T, chunk []byte) []byte {
	r := crdt.NewReader(chunk, 9)
	body := r.Take(r.Uleb())
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(body)
	w.Close()
	var out bytes.Buffer
	out.Write(chunk[:8])
	out.WriteByte(2)
	crdt.PutUleb(&out, uint64(z.Len()))
	out.Write(z.Bytes())
	if out.Len() >= len(chunk) {
		t.Fatalf("compressed chunk (%d bytes) not smaller than %d", out.Len(), len(chunk))
	}
	return out.Bytes()
}

func TestParseHeads(t *testing.T) {
	a, b := crdt.Hash{1, 2}, crdt.Hash{0, 9}
	hs, err := crdt.ParseHeads(a.String() + "," + b.String())
	if err != nil || !hs.Equal(crdt.Heads{b, a}) {
		t.Fatalf("ParseHeads = %v, %v", hs, err)
	}
	if back, _ := crdt.ParseHeads(hs.String()); !back.Equal(hs) {
		t.Fatal("String/ParseHeads round trip")
	}
	for _, s := range []string{"xyz", a.String() + ",", a.String()[:10]} {
		if _, err := crdt.ParseHeads(s); err == nil {
			t.Errorf("ParseHeads(%q) succeeded", s)
		}
	}
	if hs, err := crdt.ParseHeads(""); err != nil || len(hs) != 0 {
		t.Fatalf("empty: %v %v", hs, err)
	}
	var h crdt.Hash
	if err := json.Unmarshal([]byte(`"`+a.String()+`"`), &h); err != nil || h != a {
		t.Fatalf("unmarshal hash: %v %v", h, err)
	}
}

// Every API method through a Pool's worker, errors included.
func TestPoolAPI(t *testing.T) {
	ctx := context.Background()
	p, err := crdt.NewPool(&crdt.PoolOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown()
	stored := openSetup(t, p, "d")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res := mustEdit(t, p, crdt.Edit{Doc: "d", Message: "pool", Time: t0, Ops: []crdt.Op{{Op: "set", Path: "/v", Value: raw(`null`)}}})
	stored.Write(res.Changes)
	if got := view(t, p, crdt.View{Doc: "d", Path: "/v"}); got != "null" {
		t.Fatalf("view /v %s", got)
	}
	if got := view(t, p, crdt.View{Doc: "d", Path: "/title", Text: true, At: res.Heads}); got != "Notes" {
		t.Fatalf("text view %q", got)
	}
	page, total, err := p.History(ctx, crdt.HistoryQuery{Doc: "d"})
	if err != nil || total != 2 || len(page) != 2 || page[0].Message != "pool" || !page[0].Time.Equal(t0) || page[0].Hash != res.Heads[0] {
		t.Fatalf("history %+v %d %v", page, total, err)
	}
	metas, err := crdt.ParseChanges(stored.Bytes())
	if err != nil || len(metas) != 2 || metas[1].Hash != page[0].Hash || metas[0].Hash != page[1].Hash {
		t.Fatalf("ParseChanges of reported changes: %+v %v", metas, err)
	}
	s, err := p.Stats(ctx, "d")
	if err != nil || s.Changes != 2 || s.Memory <= 0 {
		t.Fatalf("stats %+v %v", s, err)
	}
	_, err = p.Edit(ctx, crdt.Edit{Doc: "d", Ops: []crdt.Op{{Op: "splice", Path: "/meta", Insert: "x"}}})
	if !errors.Is(err, crdt.ErrBadEdit) || !strings.Contains(err.Error(), "op 0 (splice /meta)") {
		t.Fatalf("bad edit through the pool: %v", err)
	}
	if _, err := p.View(ctx, crdt.View{Doc: "d", Path: "/nope"}); !errors.Is(err, crdt.ErrBadEdit) {
		t.Fatalf("bad view through the pool: %v", err)
	}
	if _, err := p.Edit(ctx, crdt.Edit{Doc: "nope", Ops: setupOps}); !errors.Is(err, crdt.ErrNotOpen) {
		t.Fatalf("edit of unknown doc: %v", err)
	}
	if got := view(t, p, crdt.View{Doc: "d", Path: "/meta/a", Text: true}); got != "x" {
		t.Fatalf("string as text %q", got)
	}
}
