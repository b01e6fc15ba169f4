package crdt

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/automerge/automerge-go"
)

// errEmptyCommit is automerge-go's Commit error when no op is pending.
const errEmptyCommit = "Commit is empty"

// badEdit wraps a message as ErrBadEdit.
func badEdit(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadEdit, fmt.Sprintf(format, args...))
}

// catchEdit is catch for edits and views: a panic in automerge-go there
// comes from the request (or the document), not from a sync message.
func catchEdit(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: automerge panicked: %v", ErrBadEdit, r)
	}
}

// Edit implements Engine. The ops run on a fork of the document, so a bad
// op leaves the document untouched; the fork's one change then enters the
// document through Merge, which reports it and fans it out to e.Peers
// exactly like a change another node sent.
func (l *Local) Edit(ctx context.Context, e Edit) (res Result, err error) {
	defer catchEdit(&err)
	d, err := l.get(e.Doc)
	if err != nil {
		return res, err
	}
	if err := l.checkEdit(e); err != nil {
		return res, err
	}
	for _, hs := range []Heads{e.Base, e.Restore} {
		for _, h := range hs {
			if !d.has(h) {
				return res, badEdit("unknown head %s", h)
			}
		}
	}
	if len(e.Ops) == 0 && len(e.Restore) == 0 {
		return Result{Heads: heads(d.doc)}, nil
	}
	a := d.apiState()
	fork, err := d.doc.Fork(toAM(e.Base)...)
	if err != nil {
		return res, badEdit("fork: %v", err)
	}
	// One actor per document and engine open keeps the actor table small;
	// a fork that lacks our own latest change (an edit based before it)
	// would reuse its sequence number, so such an edit gets an actor of
	// its own.
	if a.lastEdit == (Hash{}) || hasChange(fork, a.lastEdit) {
		if err := fork.SetActorID(a.actor); err != nil {
			return res, fmt.Errorf("crdt: set actor: %w", err)
		}
	}
	if len(e.Restore) > 0 {
		target, err := d.doc.Fork(toAM(e.Restore)...)
		if err != nil {
			return res, badEdit("fork at restore heads: %v", err)
		}
		if err := restore(fork.Root(), target.Root()); err != nil {
			return res, badEdit("restore: %v", err)
		}
	} else if err := applyOps(fork, e.Ops); err != nil {
		return res, err
	}
	// Nothing may read the fork's heads or changes before this commit:
	// automerge-rs would commit the open transaction anonymously.
	t := commitTime(e.Time)
	h, err := fork.Commit(e.Message, automerge.CommitOptions{Time: &t})
	if err != nil {
		if err.Error() == errEmptyCommit {
			return Result{Heads: heads(d.doc)}, nil // the edit changes nothing
		}
		return res, fmt.Errorf("crdt: commit: %w", err)
	}
	ch, err := fork.Change(h)
	if err != nil {
		return res, fmt.Errorf("crdt: new change: %w", err)
	}
	res, err = l.Merge(ctx, Merge{Doc: e.Doc, Data: ch.Save(), Peers: e.Peers})
	if err != nil {
		return res, err
	}
	res.Waiting = 0
	if fork.ActorID() == a.actor {
		a.lastEdit = Hash(h)
	}
	return res, nil
}

func hasChange(d *automerge.Doc, h Hash) bool {
	_, err := d.Change(automerge.ChangeHash(h))
	return err == nil
}

// checkEdit checks what can be checked without the document.
func (l *Local) checkEdit(e Edit) error {
	if len(e.Ops) > 0 && len(e.Restore) > 0 {
		return badEdit("an edit has ops or a restore, not both")
	}
	if len(e.Restore) > 0 && len(e.Base) > 0 {
		return badEdit("a restore applies to the current document, not to a base")
	}
	if len(e.Ops) > maxEditOps {
		return fmt.Errorf("%w: %d ops in one edit (at most %d)", ErrTooLarge, len(e.Ops), maxEditOps)
	}
	size := len(e.Message)
	for _, op := range e.Ops {
		size += len(op.Path) + len(op.Value) + len(op.Insert)
		for _, v := range op.Values {
			size += len(v)
		}
	}
	if size > l.opts.MaxMessage {
		return fmt.Errorf("%w: edit of %d bytes", ErrTooLarge, size)
	}
	if !utf8.ValidString(e.Message) {
		return badEdit("message is not UTF-8")
	}
	return nil
}

// applyOps runs the ops on doc in order, stopping at the first bad one.
func applyOps(doc *automerge.Doc, ops []Op) error {
	b := &budget{}
	for i, op := range ops {
		if err := applyOp(doc, op, b); err != nil {
			if errors.Is(err, ErrTooLarge) {
				return err
			}
			return fmt.Errorf("%w: op %d (%s %s): %v", ErrBadEdit, i, op.Op, op.Path, err)
		}
	}
	return nil
}

func applyOp(doc *automerge.Doc, op Op, b *budget) error {
	toks, err := parsePointer(op.Path)
	if err != nil {
		return err
	}
	at := pointerOf(toks)
	if op.Op == "splice" {
		return splice(doc, toks, op, b)
	}
	if len(toks) == 0 {
		return fmt.Errorf("%s cannot be the target of %s", at, op.Op)
	}
	parent, err := walk(doc.Root(), toks[:len(toks)-1])
	if err != nil {
		return err
	}
	last := toks[len(toks)-1]
	var (
		m   *automerge.Map
		l   *automerge.List
		idx int
	)
	switch parent.Kind() {
	case automerge.KindMap:
		m = parent.Map()
	case automerge.KindList:
		l = parent.List()
		if idx, err = listIndex(last, l.Len(), op.Op == "insert", at); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s is %s, not a map or list", pointerOf(toks[:len(toks)-1]), kindName(parent.Kind()))
	}
	switch op.Op {
	case "set":
		v, err := decodeValue(op.Value, op.Type, b)
		if err != nil {
			return err
		}
		if m != nil {
			return setKey(m, last, v)
		}
		return putIndex(l, idx, false, v)
	case "insert":
		if l == nil {
			return fmt.Errorf("%s is in a map, not a list (use set)", at)
		}
		v, err := decodeValue(op.Value, op.Type, b)
		if err != nil {
			return err
		}
		return putIndex(l, idx, true, v)
	case "delete":
		if m != nil {
			cur, err := m.Get(last)
			if err != nil {
				return err
			}
			if cur.IsVoid() {
				return fmt.Errorf("%s does not exist", at)
			}
			return m.Delete(last)
		}
		return l.Delete(idx)
	case "increment":
		by := op.By
		if by == 0 {
			by = 1
		}
		return increment(m, l, last, idx, by, at)
	}
	return fmt.Errorf("unknown op %q (set, delete, splice, insert, increment)", op.Op)
}

// increment adds by to the counter at key of m (created at zero if
// absent) or at idx of l.
func increment(m *automerge.Map, l *automerge.List, key string, idx int, by int64, at string) error {
	var (
		cur *automerge.Value
		err error
	)
	if m != nil {
		if cur, err = m.Get(key); err == nil && cur.IsVoid() {
			if err = m.Set(key, automerge.NewCounter(0)); err == nil {
				cur, err = m.Get(key)
			}
		}
	} else {
		cur, err = l.Get(idx)
	}
	if err != nil {
		return err
	}
	if cur.Kind() != automerge.KindCounter {
		return fmt.Errorf("%s is %s, not a counter", at, kindName(cur.Kind()))
	}
	return cur.Counter().Inc(by)
}

// splice edits text (Insert) or a list (Values) in place.
func splice(doc *automerge.Doc, toks []string, op Op, b *budget) error {
	at := pointerOf(toks)
	v, err := walk(doc.Root(), toks)
	if err != nil {
		return err
	}
	var n int
	switch v.Kind() {
	case automerge.KindText:
		n = v.Text().Len()
	case automerge.KindList:
		n = v.List().Len()
	default:
		return fmt.Errorf("%s is %s, not text or a list", at, kindName(v.Kind()))
	}
	if op.Pos < 0 || op.Del < 0 || op.Pos > n || op.Del > n-op.Pos {
		return fmt.Errorf("%s: pos %d, del %d out of range (length %d)", at, op.Pos, op.Del, n)
	}
	if v.Kind() == automerge.KindText {
		if len(op.Values) > 0 {
			return fmt.Errorf("%s is text: splice it with insert, not values", at)
		}
		if !utf8.ValidString(op.Insert) {
			return fmt.Errorf("insert is not UTF-8")
		}
		return v.Text().Splice(op.Pos, op.Del, op.Insert)
	}
	if op.Insert != "" {
		return fmt.Errorf("%s is a list: splice it with values, not insert", at)
	}
	vals := make([]any, len(op.Values))
	for i, raw := range op.Values {
		if vals[i], err = decodeValue(raw, op.Type, b); err != nil {
			return fmt.Errorf("value %d: %v", i, err)
		}
	}
	l := v.List()
	for i := 0; i < op.Del; i++ {
		if err := l.Delete(op.Pos); err != nil {
			return err
		}
	}
	for i, x := range vals {
		if err := putIndex(l, op.Pos+i, true, x); err != nil {
			return err
		}
	}
	return nil
}

// restore edits cur (the document root) until it holds what tgt holds.
func restore(cur, tgt *automerge.Value) error {
	_, err := patchValue(cur, tgt, 0)
	return err
}

// patchValue brings c to t in place when they are the same kind of
// container, equal scalars or both counters, and reports false when c
// must be replaced by a copy of t instead.
func patchValue(c, t *automerge.Value, depth int) (bool, error) {
	if depth > maxDocDepth {
		return false, fmt.Errorf("document nested deeper than %d", maxDocDepth)
	}
	if c.Kind() != t.Kind() {
		return false, nil
	}
	switch c.Kind() {
	case automerge.KindMap:
		return true, patchMap(c.Map(), t.Map(), depth)
	case automerge.KindList:
		return true, patchList(c.List(), t.List(), depth)
	case automerge.KindText:
		return true, patchText(c.Text(), t.Text())
	case automerge.KindCounter:
		cn, err := c.Counter().Get()
		if err != nil {
			return false, err
		}
		tn, err := t.Counter().Get()
		if err != nil || cn == tn {
			return true, err
		}
		return true, c.Counter().Inc(tn - cn)
	}
	return sameScalar(c, t), nil
}

func patchMap(cur, tgt *automerge.Map, depth int) error {
	cv, err := cur.Values()
	if err != nil {
		return err
	}
	tv, err := tgt.Values()
	if err != nil {
		return err
	}
	for _, k := range sortedKeys(cv) {
		if _, ok := tv[k]; !ok {
			if err := cur.Delete(k); err != nil {
				return err
			}
		}
	}
	for _, k := range sortedKeys(tv) {
		if c, ok := cv[k]; ok {
			done, err := patchValue(c, tv[k], depth+1)
			if err != nil || done {
				if err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
				continue
			}
		}
		x, err := copyValue(tv[k], depth+1)
		if err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		if err := setKey(cur, k, x); err != nil {
			return err
		}
	}
	return nil
}

// patchList restores a list element by element: common positions are
// patched or replaced, the tail deleted or appended.
func patchList(cur, tgt *automerge.List, depth int) error {
	cv, err := cur.Values()
	if err != nil {
		return err
	}
	tv, err := tgt.Values()
	if err != nil {
		return err
	}
	for i := 0; i < min(len(cv), len(tv)); i++ {
		done, err := patchValue(cv[i], tv[i], depth+1)
		if err != nil {
			return fmt.Errorf("%d: %w", i, err)
		}
		if done {
			continue
		}
		x, err := copyValue(tv[i], depth+1)
		if err != nil {
			return fmt.Errorf("%d: %w", i, err)
		}
		if err := putIndex(cur, i, false, x); err != nil {
			return err
		}
	}
	for i := len(cv) - 1; i >= len(tv); i-- {
		if err := cur.Delete(i); err != nil {
			return err
		}
	}
	for i := len(cv); i < len(tv); i++ {
		x, err := copyValue(tv[i], depth+1)
		if err != nil {
			return fmt.Errorf("%d: %w", i, err)
		}
		if err := putIndex(cur, i, true, x); err != nil {
			return err
		}
	}
	return nil
}

// patchText restores text with one splice over the part between the
// common prefix and suffix, so that concurrent edits elsewhere survive.
func patchText(cur, tgt *automerge.Text) error {
	cs, err := cur.Get()
	if err != nil {
		return err
	}
	ts, err := tgt.Get()
	if err != nil {
		return err
	}
	if cs == ts {
		return nil
	}
	c, t := []rune(cs), []rune(ts)
	p := 0
	for p < len(c) && p < len(t) && c[p] == t[p] {
		p++
	}
	s := 0
	for s < len(c)-p && s < len(t)-p && c[len(c)-1-s] == t[len(t)-1-s] {
		s++
	}
	ins := t[p : len(t)-s]
	for _, r := range ins {
		if r == blockMarker {
			return errBlockMarkers
		}
	}
	return cur.Splice(p, len(c)-p-s, string(ins))
}
