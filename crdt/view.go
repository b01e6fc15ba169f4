package crdt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
)

// View implements Engine.
func (l *Local) View(_ context.Context, v View) (out []byte, err error) {
	defer catchEdit(&err)
	d, err := l.get(v.Doc)
	if err != nil {
		return nil, err
	}
	toks, err := parsePointer(v.Path)
	if err != nil {
		return nil, badEdit("%v", err)
	}
	doc := d.doc
	if len(v.At) > 0 {
		for _, h := range v.At {
			if !d.has(h) {
				return nil, badEdit("unknown head %s", h)
			}
		}
		if doc, err = d.doc.Fork(toAM(v.At)...); err != nil {
			return nil, badEdit("fork: %v", err)
		}
	}
	val, err := walk(doc.Root(), toks)
	if err != nil {
		return nil, badEdit("%v", err)
	}
	if v.Text {
		switch val.Kind() {
		case automerge.KindText:
			s, err := val.Text().Get()
			if err != nil {
				return nil, err
			}
			return []byte(plainText(s)), nil
		case automerge.KindStr:
			return []byte(val.Str()), nil
		}
		return nil, badEdit("%s is %s, not text", pointerOf(toks), kindName(val.Kind()))
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, val, 0); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// plainText renders a text with rich-text block markers (objects embedded
// by Automerge JS's splitBlock, which automerge-rs 0.5.0 returns as
// U+FFFC) as lines: each marker starts a new line, except one at the very
// start, which opens the first block (Automerge JS's spans show no empty
// line before it either). A U+FFFC typed as a character is
// indistinguishable through automerge-go and renders the same way.
func plainText(s string) string {
	if !strings.ContainsRune(s, blockMarker) {
		return s
	}
	s = strings.TrimPrefix(s, string(blockMarker))
	return strings.ReplaceAll(s, string(blockMarker), "\n")
}

// writeJSON renders a document value as JSON: maps with sorted keys, text
// as plain text, counters as numbers, timestamps as RFC 3339, bytes as
// base64, floats that JSON cannot hold (NaN, ±Inf) as null.
func writeJSON(buf *bytes.Buffer, v *automerge.Value, depth int) error {
	if depth > maxDocDepth {
		return fmt.Errorf("%w: document nested deeper than %d", ErrTooLarge, maxDocDepth)
	}
	switch v.Kind() {
	case automerge.KindMap:
		vals, err := v.Map().Values()
		if err != nil {
			return err
		}
		buf.WriteByte('{')
		for i, k := range sortedKeys(vals) {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := writeJSON(buf, vals[k], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case automerge.KindList:
		vals, err := v.List().Values()
		if err != nil {
			return err
		}
		buf.WriteByte('[')
		for i, e := range vals {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, e, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case automerge.KindText:
		s, err := v.Text().Get()
		if err != nil {
			return err
		}
		writeString(buf, plainText(s))
	case automerge.KindStr:
		writeString(buf, v.Str())
	case automerge.KindCounter:
		n, err := v.Counter().Get()
		if err != nil {
			return err
		}
		buf.WriteString(strconv.FormatInt(n, 10))
	case automerge.KindInt64:
		buf.WriteString(strconv.FormatInt(v.Int64(), 10))
	case automerge.KindUint64:
		buf.WriteString(strconv.FormatUint(v.Uint64(), 10))
	case automerge.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			buf.WriteString("null")
			break
		}
		b, _ := json.Marshal(f)
		buf.Write(b)
	case automerge.KindBool:
		buf.WriteString(strconv.FormatBool(v.Bool()))
	case automerge.KindTime:
		writeString(buf, v.Time().UTC().Format(time.RFC3339Nano))
	case automerge.KindBytes:
		writeString(buf, base64.StdEncoding.EncodeToString(v.Bytes()))
	default: // null, and kinds newer than this core knows
		buf.WriteString("null")
	}
	return nil
}

// writeString writes s as a JSON string, without HTML escapes.
func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode's newline
}
