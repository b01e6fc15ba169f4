package main

import "testing"

func TestCheckURL(t *testing.T) {
	for _, u := range []string{"ws://127.0.0.1:8080/", "ws://localhost:1/x", "wss://[::1]:9/", "ws://127.3.4.5/"} {
		if err := checkURL(u, false); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"ws://10.0.0.1/", "ws://example.com/", "http://127.0.0.1/", "ws://192.168.1.1:80/"} {
		if err := checkURL(u, false); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	if err := checkURL("ws://10.0.0.1/", true); err != nil {
		t.Errorf("--allow-remote: %v", err)
	}
}
