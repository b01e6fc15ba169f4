package jsstore_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weft-dev/weft/storage/jsstore"
	"github.com/weft-dev/weft/storage/jsstore/jstest"
	"github.com/weft-dev/weft/storage/storagetest"
)

var _ storagetest.Store = (*jsstore.Store)(nil)

var quiet = slog.New(slog.DiscardHandler)

func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(20 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func open(t testing.TB, nc *nats.Conn, o jsstore.Options) *jsstore.Store {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	s, err := jsstore.Open(t.Context(), nc, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestContract runs the store contract suite against JetStream: every Open is a new Store on
// the same server, as a restarted node would be.
func TestContract(t *testing.T) {
	srv := jstest.RunServer(t, "")
	nc := connect(t, srv.ClientURL())
	n := 0
	storagetest.Run(t, func(t *testing.T) storagetest.Backend {
		n++
		prefix := "T" + string(rune('A'+n/26)) + string(rune('A'+n%26))
		return storagetest.Backend{
			Open: func() storagetest.Store {
				s, err := jsstore.Open(t.Context(), nc, jsstore.Options{Prefix: prefix, Replicas: 1})
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return s
			},
			Tombstones: true,
		}
	})
}
