package trace

import (
	"errors"
	"fmt"
	"slices"
)

// Edit is one splice the writer commits as one change.
type Edit struct {
	Pos, Del int
	Insert   string
}

// Plan is what replaying a prefix of a trace sends and should produce.
type Plan struct {
	Txns     int    // transactions replayed
	Edits    []Edit // one per transaction that changes the text
	Expected string // the text after them
}

// Plan turns the first n transactions (all if n <= 0 or beyond the end)
// into one splice each and computes the text they produce. A transaction
// with several patches becomes the single splice between the text before
// and after it; one that changes nothing is skipped. When the whole trace is
// replayed the result is checked against endContent.
func (t *Trace) Plan(n int) (*Plan, error) {
	if n <= 0 || n > len(t.Txns) {
		n = len(t.Txns)
	}
	doc := []rune(t.StartContent)
	p := &Plan{Txns: n, Edits: make([]Edit, 0, n)}
	var before []rune
	for i, tx := range t.Txns[:n] {
		if len(tx.Patches) > 1 {
			before = append(before[:0], doc...)
		}
		for _, pa := range tx.Patches {
			var err error
			if doc, err = splice(doc, pa.Pos, pa.Del, pa.Insert); err != nil {
				return nil, fmt.Errorf("transaction %d: %w", i, err)
			}
		}
		var e Edit
		switch len(tx.Patches) {
		case 0:
			continue
		case 1:
			pa := tx.Patches[0]
			e = Edit{pa.Pos, pa.Del, pa.Insert}
		default:
			e = diff(before, doc)
		}
		if e.Del == 0 && e.Insert == "" {
			continue
		}
		p.Edits = append(p.Edits, e)
	}
	p.Expected = string(doc)
	if n == len(t.Txns) && p.Expected != t.EndContent {
		return nil, errors.New("trace: replaying every transaction does not give endContent")
	}
	return p, nil
}

// splice applies one patch to a text held as code points.
func splice(doc []rune, pos, del int, insert string) ([]rune, error) {
	if pos < 0 || del < 0 || pos > len(doc) || del > len(doc)-pos {
		return doc, fmt.Errorf("patch [%d, %d] outside a text of %d code points", pos, del, len(doc))
	}
	return slices.Replace(doc, pos, pos+del, []rune(insert)...), nil
}

// diff returns the one splice that turns a into b: everything between
// their common prefix and common suffix.
func diff(a, b []rune) Edit {
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	s := 0
	for s < len(a)-p && s < len(b)-p && a[len(a)-1-s] == b[len(b)-1-s] {
		s++
	}
	return Edit{Pos: p, Del: len(a) - p - s, Insert: string(b[p : len(b)-s])}
}
