package natsrelay_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/natsrelay"
	"github.com/weft-dev/weft/session/relaytest"
)

func connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(20 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestNATSRelayContract(t *testing.T) {
	s := relaytest.RunNATS(t, -1)
	relaytest.Run(t, func(t *testing.T, n int) []session.Relay {
		rs := make([]session.Relay, n)
		for i := range rs {
			r, err := natsrelay.New(connect(t, s.ClientURL()), fmt.Sprintf("%s-%d", t.Name(), i), nil)
			if err != nil {
				t.Fatal(err)
			}
			rs[i] = r
		}
		return rs
	})
}

// After the server restarts, the relay calls its OnReconnect functions
// and subscriptions work again.
func TestNATSRelayReconnect(t *testing.T) {
	s := relaytest.RunNATS(t, -1)
	url := s.ClientURL()
	port := s.Addr().(*net.TCPAddr).Port
	a, err := natsrelay.New(connect(t, url), "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := natsrelay.New(connect(t, url), "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	reconnected := make(chan struct{}, 1)
	b.OnReconnect(func() { reconnected <- struct{}{} })
	got := make(chan []byte, 10)
	cancel, err := b.Subscribe("doc", func(f []byte) { got <- f })
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	b.Flush()

	s.Shutdown()
	s.WaitForShutdown()
	relaytest.RunNATS(t, port)
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatal("no reconnect")
	}
	a.Flush()
	b.Flush()
	// a may reconnect after b: publish until it gets through.
	deadline := time.Now().Add(10 * time.Second)
	for {
		a.PublishEphemeral("doc", []byte("after"))
		select {
		case m := <-got:
			if string(m) != "after" {
				t.Fatalf("got %q", m)
			}
			return
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no delivery after the restart")
		}
	}
}
