package crdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
)

// Bounds on untrusted edit values.
const (
	maxValueDepth = 64      // nesting of one JSON value
	maxEditOps    = 10000   // ops in one edit
	maxEditNodes  = 1 << 20 // JSON values (of any depth) in one edit
	// maxDocDepth bounds recursion over a document's own tree (View,
	// Restore); clients can build documents nested deeper than any edit.
	maxDocDepth = 512
)

// blockMarker is what automerge-rs 0.5.0 returns for an object embedded in
// a text (a rich-text block marker of Automerge JS's splitBlock); it
// cannot read the object itself.
const blockMarker = '\uFFFC'

// Values an edit writes, before they reach a document: scalars as
// automerge-go takes them (string, int64, float64, bool, nil, time.Time,
// []byte, uint64), *automerge.Text and *automerge.Counter (fresh, each
// attached once), and these two for containers.
type (
	mapVal struct {
		keys []string // sorted
		vals []any
	}
	listVal []any
)

// budget counts the JSON values of an edit against maxEditNodes.
type budget struct{ nodes int }

func (b *budget) take() error {
	b.nodes++
	if b.nodes > maxEditNodes {
		return fmt.Errorf("more than %d values in one edit", maxEditNodes)
	}
	return nil
}

// jsonDepth returns how deeply raw JSON nests (without parsing it, so that
// depth is checked before the decoder recurses).
func jsonDepth(b []byte) int {
	depth, deepest := 0, 0
	inStr, esc := false, false
	for _, c := range b {
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth--
		}
	}
	return deepest
}

// decodeValue turns an op's JSON value into a value to write. typ is the
// op's type: "" or "text" (strings become text), "string" (strings stay
// scalar strings; on a container it applies to the strings inside),
// "counter" or "timestamp" (scalars only).
func decodeValue(raw json.RawMessage, typ string, b *budget) (any, error) {
	if len(raw) == 0 {
		return nil, errors.New("missing value")
	}
	if d := jsonDepth(raw); d > maxValueDepth {
		return nil, fmt.Errorf("value nested %d deep (at most %d)", d, maxValueDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("value is not JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("value is not one JSON value")
	}
	switch typ {
	case "", "text", "string":
		return convertJSON(x, typ == "string", b)
	case "counter":
		n, ok := x.(json.Number)
		i, err := n.Int64()
		if !ok || err != nil {
			return nil, fmt.Errorf("a counter needs an integer, not %s", raw)
		}
		return automerge.NewCounter(i), b.take()
	case "timestamp":
		switch v := x.(type) {
		case string:
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return nil, fmt.Errorf("timestamp: %v", err)
			}
			return t, b.take()
		case json.Number:
			ms, err := v.Int64()
			if err != nil {
				return nil, fmt.Errorf("timestamp %s is not whole milliseconds", v)
			}
			return time.UnixMilli(ms), b.take()
		}
		return nil, fmt.Errorf("a timestamp needs an RFC 3339 string or milliseconds, not %s", raw)
	}
	return nil, fmt.Errorf("unknown type %q (text, string, counter or timestamp)", typ)
}

func convertJSON(x any, plain bool, b *budget) (any, error) {
	if err := b.take(); err != nil {
		return nil, err
	}
	switch v := x.(type) {
	case nil, bool:
		return v, nil
	case string:
		if plain {
			return v, nil
		}
		return automerge.NewText(v), nil
	case json.Number:
		return jsonNumber(v)
	case []any:
		out := make(listVal, len(v))
		for i, e := range v {
			c, err := convertJSON(e, plain, b)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		m := mapVal{keys: make([]string, 0, len(v))}
		for k := range v {
			m.keys = append(m.keys, k)
		}
		slices.Sort(m.keys)
		for _, k := range m.keys {
			c, err := convertJSON(v[k], plain, b)
			if err != nil {
				return nil, err
			}
			m.vals = append(m.vals, c)
		}
		return m, nil
	}
	return nil, fmt.Errorf("unexpected JSON value %T", x)
}

// jsonNumber: integral numbers become int64 (as Automerge JS stores
// integers), others float64.
func jsonNumber(n json.Number) (any, error) {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil {
		return nil, fmt.Errorf("number %s: %v", n, err)
	}
	if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
		return int64(f), nil
	}
	return f, nil
}

// setKey writes v at key of m, building containers in place.
func setKey(m *automerge.Map, key string, v any) error {
	switch v := v.(type) {
	case mapVal:
		nm := automerge.NewMap()
		if err := m.Set(key, nm); err != nil {
			return err
		}
		return fillMap(nm, v)
	case listVal:
		nl := automerge.NewList()
		if err := m.Set(key, nl); err != nil {
			return err
		}
		return fillList(nl, v)
	}
	return m.Set(key, v)
}

// putIndex overwrites (insert false) or inserts v at index i of l.
func putIndex(l *automerge.List, i int, insert bool, v any) error {
	put := l.Set
	if insert {
		put = func(i int, v any) error { return l.Insert(i, v) }
	}
	switch v := v.(type) {
	case mapVal:
		nm := automerge.NewMap()
		if err := put(i, nm); err != nil {
			return err
		}
		return fillMap(nm, v)
	case listVal:
		nl := automerge.NewList()
		if err := put(i, nl); err != nil {
			return err
		}
		return fillList(nl, v)
	}
	return put(i, v)
}

func fillMap(m *automerge.Map, v mapVal) error {
	for i, k := range v.keys {
		if err := setKey(m, k, v.vals[i]); err != nil {
			return err
		}
	}
	return nil
}

func fillList(l *automerge.List, v listVal) error {
	for i, e := range v {
		if err := putIndex(l, i, true, e); err != nil {
			return err
		}
	}
	return nil
}

// copyValue returns a writable copy of a document value (for Restore).
// Rich-text block markers cannot be written through automerge-go, so text
// holding them is refused rather than silently flattened.
func copyValue(v *automerge.Value, depth int) (any, error) {
	if depth > maxDocDepth {
		return nil, fmt.Errorf("document nested deeper than %d", maxDocDepth)
	}
	switch v.Kind() {
	case automerge.KindMap:
		vals, err := v.Map().Values()
		if err != nil {
			return nil, err
		}
		m := mapVal{keys: sortedKeys(vals)}
		for _, k := range m.keys {
			c, err := copyValue(vals[k], depth+1)
			if err != nil {
				return nil, err
			}
			m.vals = append(m.vals, c)
		}
		return m, nil
	case automerge.KindList:
		vals, err := v.List().Values()
		if err != nil {
			return nil, err
		}
		out := make(listVal, len(vals))
		for i, e := range vals {
			if out[i], err = copyValue(e, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	case automerge.KindText:
		s, err := v.Text().Get()
		if err != nil {
			return nil, err
		}
		if strings.ContainsRune(s, blockMarker) {
			return nil, errBlockMarkers
		}
		return automerge.NewText(s), nil
	case automerge.KindCounter:
		n, err := v.Counter().Get()
		return automerge.NewCounter(n), err
	case automerge.KindStr:
		return v.Str(), nil
	case automerge.KindNull:
		return nil, nil
	case automerge.KindBool, automerge.KindInt64, automerge.KindUint64, automerge.KindFloat64,
		automerge.KindTime, automerge.KindBytes:
		return v.Interface(), nil
	}
	return nil, fmt.Errorf("cannot write %s", kindName(v.Kind()))
}

var errBlockMarkers = errors.New("the text to restore holds rich-text block markers, which this engine (automerge-rs 0.5.0) cannot write")

func sortedKeys(m map[string]*automerge.Value) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sameScalar reports whether two scalar values of one kind are equal.
func sameScalar(a, b *automerge.Value) bool {
	switch a.Kind() {
	case automerge.KindBytes:
		return bytes.Equal(a.Bytes(), b.Bytes())
	case automerge.KindTime:
		return a.Time().Equal(b.Time())
	case automerge.KindFloat64:
		return math.Float64bits(a.Float64()) == math.Float64bits(b.Float64())
	case automerge.KindNull:
		return true
	case automerge.KindStr, automerge.KindBool, automerge.KindInt64, automerge.KindUint64:
		return a.Interface() == b.Interface()
	}
	return false
}
