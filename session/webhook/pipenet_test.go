package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// pipeNet is an in-memory network for tests in a testing/synctest bubble:
// real net/http servers and a real http.Transport, joined by net.Pipe
// connections instead of loopback sockets. (A goroutine blocked reading a
// socket is not "durably blocked", so with loopback the bubble's fake
// clock could not advance; net.Pipe blocks on channels, which are.)
// Create it inside the bubble.
type pipeNet struct {
	mu    sync.Mutex
	hosts map[string]*pipeListener // by "host:port"
	tr    *http.Transport
}

func newPipeNet(t *testing.T) *pipeNet {
	pn := &pipeNet{hosts: map[string]*pipeListener{}}
	pn.tr = &http.Transport{DialContext: pn.dial}
	// Registered first, so it runs last: after the servers have closed.
	t.Cleanup(pn.tr.CloseIdleConnections)
	return pn
}

// client returns a client that dials on the pipe network.
func (pn *pipeNet) client() *http.Client {
	return &http.Client{Transport: pn.tr, Timeout: 2 * time.Second}
}

// serve runs an http.Server for h at addr until the test ends.
func (pn *pipeNet) serve(t *testing.T, addr string, h http.Handler) {
	l := &pipeListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
	pn.mu.Lock()
	pn.hosts[addr] = l
	pn.mu.Unlock()
	srv := &http.Server{Handler: h}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve %s: %v", addr, err)
		}
	}()
	t.Cleanup(func() {
		srv.Close() // closes l and every connection
		<-served
	})
}

func (pn *pipeNet) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	pn.mu.Lock()
	l := pn.hosts[addr]
	pn.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("pipenet: no server at %s", addr)
	}
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		err := fmt.Errorf("pipenet: server at %s closed", addr)
		client.Close()
		server.Close()
		return nil, err
	case <-ctx.Done():
		client.Close()
		server.Close()
		return nil, ctx.Err()
	}
}

// pipeListener is the net.Listener of one pipeNet server.
type pipeListener struct {
	addr  string
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr(l.addr) }

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }
