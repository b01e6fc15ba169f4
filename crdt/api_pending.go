package crdt

import (
	"context"
	"errors"
)

// errPending marks API engine methods whose implementation is in progress
// (this file is deleted when they land).
var errPending = errors.New("crdt: not implemented yet")

func (l *Local) Edit(context.Context, Edit) (Result, error)   { return Result{}, errPending }
func (l *Local) View(context.Context, View) ([]byte, error)   { return nil, errPending }
func (l *Local) Stats(context.Context, string) (Stats, error) { return Stats{}, errPending }
func (l *Local) History(context.Context, HistoryQuery) ([]ChangeMeta, int, error) {
	return nil, 0, errPending
}
func (p *Pool) Edit(context.Context, Edit) (Result, error)   { return Result{}, errPending }
func (p *Pool) View(context.Context, View) ([]byte, error)   { return nil, errPending }
func (p *Pool) Stats(context.Context, string) (Stats, error) { return Stats{}, errPending }
func (p *Pool) History(context.Context, HistoryQuery) ([]ChangeMeta, int, error) {
	return nil, 0, errPending
}
