package session_test

import (
	"fmt"
	"testing"

	"github.com/weft-dev/weft/session"
	"github.com/weft-dev/weft/session/relaytest"
)

func TestMemRelayContract(t *testing.T) {
	relaytest.Run(t, func(t *testing.T, n int) []session.Relay {
		net := session.NewMemRelayNetwork()
		rs := make([]session.Relay, n)
		for i := range rs {
			rs[i] = net.Node(fmt.Sprintf("node-%d", i))
		}
		return rs
	})
}
