package crdt

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/automerge/automerge-go"
)

// parsePointer splits a JSON pointer (RFC 6901) into its reference tokens,
// with ~1 and ~0 unescaped. "" is the whole document.
func parsePointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if p[0] != '/' {
		return nil, fmt.Errorf("path %q does not start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if !strings.Contains(t, "~") {
			continue
		}
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, fmt.Errorf("path %q: bad escape in %q (only ~0 and ~1)", p, t)
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

// pointerOf renders tokens back as a JSON pointer, for messages.
func pointerOf(toks []string) string {
	if len(toks) == 0 {
		return "the document root"
	}
	var b strings.Builder
	for _, t := range toks {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// listIndex parses an array index token of a list of length n: digits
// without leading zeros, below n (up to n with end, where "-" is n).
func listIndex(tok string, n int, end bool, at string) (int, error) {
	if tok == "-" {
		if end {
			return n, nil
		}
		return 0, fmt.Errorf("%s: \"-\" (the end of the list) only works with insert", at)
	}
	if tok == "" || (len(tok) > 1 && tok[0] == '0') || strings.TrimLeft(tok, "0123456789") != "" {
		return 0, fmt.Errorf("%s: %q is not a list index", at, tok)
	}
	i, err := strconv.Atoi(tok)
	if err != nil || i > n || (i == n && !end) {
		return 0, fmt.Errorf("%s: index %s out of range (list of %d)", at, tok, n)
	}
	return i, nil
}

// walk returns the value at toks below root; every step must exist.
func walk(root *automerge.Value, toks []string) (*automerge.Value, error) {
	v := root
	for i, tok := range toks {
		at := pointerOf(toks[:i+1])
		var (
			next *automerge.Value
			err  error
		)
		switch v.Kind() {
		case automerge.KindMap:
			next, err = v.Map().Get(tok)
			if err == nil && next.IsVoid() {
				return nil, fmt.Errorf("%s does not exist", at)
			}
		case automerge.KindList:
			var idx int
			if idx, err = listIndex(tok, v.List().Len(), false, at); err != nil {
				return nil, err
			}
			next, err = v.List().Get(idx)
		default:
			return nil, fmt.Errorf("%s is %s, not a map or list", pointerOf(toks[:i]), kindName(v.Kind()))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", at, err)
		}
		v = next
	}
	return v, nil
}

// kindName names a value kind for messages, with its article.
func kindName(k automerge.Kind) string {
	switch k {
	case automerge.KindMap:
		return "a map"
	case automerge.KindList:
		return "a list"
	case automerge.KindText:
		return "text"
	case automerge.KindStr:
		return "a string"
	case automerge.KindCounter:
		return "a counter"
	case automerge.KindInt64, automerge.KindUint64, automerge.KindFloat64:
		return "a number"
	case automerge.KindBool:
		return "a boolean"
	case automerge.KindNull:
		return "null"
	case automerge.KindTime:
		return "a timestamp"
	case automerge.KindBytes:
		return "bytes"
	case automerge.KindVoid:
		return "missing"
	default:
		return "a value of unknown type"
	}
}
