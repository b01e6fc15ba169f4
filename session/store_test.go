package session_test

import (
	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/storage"
	"github.com/weft-dev/weft/storage/storagetest"
)

var (
	// The bbolt store is a session.Store as it is, with no adapter.
	_ session.Store = (*storage.Store)(nil)
	// Every method session uses is in the contract suite's Store, so the
	// suite (storage/storagetest) checks each of them.
	_ session.Store = storagetest.Store(nil)
)
