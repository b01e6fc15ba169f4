package crdt

import (
	"testing"

	"github.com/automerge/automerge-go"
)

// TestPeerModes checks the event methods against peerState's table, and
// that a restart gives the peer a sync state that knows the shared heads.
func TestPeerModes(t *testing.T) {
	all := []peerMode{modeSyncing, modeSyncingBypassed, modeLiveTracked, modeLive}
	want := map[string][4]peerMode{
		"confirmed": {modeLiveTracked, modeLive, modeLiveTracked, modeLive},
		"fellBack":  {modeSyncing, modeSyncingBypassed, modeSyncing, modeSyncingBypassed},
		"bypassed":  {modeSyncingBypassed, modeSyncingBypassed, modeLive, modeLive},
		"restart":   {modeSyncing, modeSyncing, modeLiveTracked, modeLiveTracked},
	}
	d := &docState{doc: automerge.New(), peers: map[string]*peerState{}}
	for event, next := range want {
		for i, from := range all {
			p := d.peer("p")
			p.mode = from
			switch event {
			case "confirmed":
				p.confirmed(nil)
			case "fellBack":
				p.fellBack()
			case "bypassed":
				p.bypassed()
			case "restart":
				d.syncState(p)
			}
			if p.mode != next[i] {
				t.Errorf("%s from %s: %s, want %s", event, from, p.mode, next[i])
			}
			if p.mode.live() != (p.mode == modeLiveTracked || p.mode == modeLive) {
				t.Errorf("%s: live() = %v", p.mode, p.mode.live())
			}
		}
	}
	p := d.peer("p")
	p.sentDirect(Heads{{1}})
	if !p.knownAt(Heads{{1}}) || !p.mode.bypassedState() || !p.ackDirect(Heads{{1}}) || len(p.direct) != 0 {
		t.Fatalf("after sentDirect and its acknowledgement: %+v", p)
	}
	if p.acknowledging(Heads{{1}}) || !p.acknowledging(Heads{{2}}) {
		t.Fatal("acknowledging repeats or skips an acknowledgement")
	}
}
