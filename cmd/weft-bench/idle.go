package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// runIdle opens cfg.Conns joined connections that then stay idle (they
// only answer pings), and reports the growth of the server's resident
// memory per connection.
func runIdle(parent context.Context, cfg Config) (*Result, error) {
	if cfg.Conns <= 0 {
		return nil, errors.New("idle mode needs --conns > 0")
	}
	res := &Result{Mode: "idle", URL: cfg.URL, Conns: cfg.Conns}
	ctx, cancel := context.WithTimeout(parent, cfg.Timeout)
	defer cancel()

	var before int64
	var smp *sampler
	if cfg.PID > 0 {
		var err error
		if before, err = steadyRSS(cfg.PID); err != nil {
			return nil, err
		}
		if smp, err = startSampler(cfg.PID, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	var w wire
	var (
		mu    sync.Mutex
		conns []*websocket.Conn
		first error
	)
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
			c.Close()
		}
		conns = nil
	}
	defer closeAll()
	go func() { <-ctx.Done(); closeAll() }()

	tag := randomTag()
	cpu0 := selfCPU()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				c, err := dialIdle(ctx, cfg.URL, fmt.Sprintf("weft-bench-idle-%d-%s", i, tag), &w)
				mu.Lock()
				if err != nil {
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i, err)
					}
				} else if ctx.Err() == nil {
					conns = append(conns, c)
					// Read (and so answer pings) until closed.
					go func() {
						for {
							if _, _, err := c.ReadMessage(); err != nil {
								return
							}
						}
					}()
				} else {
					c.Close()
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < cfg.Conns; i++ {
		mu.Lock()
		stop := first != nil || ctx.Err() != nil
		mu.Unlock()
		if stop {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	res.ToolCPU = selfCPU() - cpu0
	res.BytesSent, res.BytesReceived = w.sent.Load(), w.recv.Load()
	mu.Lock()
	opened, err := len(conns), first
	mu.Unlock()
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v (--timeout) with %d connections open", cfg.Timeout, opened)
	}
	if smp != nil {
		if err == nil {
			// Let the server settle, then read its memory while every
			// connection is still open.
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
			if res.RSSAfter, err = steadyRSS(cfg.PID); err == nil {
				res.RSSBefore = before
				res.BytesPerConn = (res.RSSAfter - before) / int64(max(opened, 1))
			}
		}
		cpu, peak, procs, serr := smp.Stop()
		if serr == nil {
			res.Server = &ServerStats{PID: cfg.PID, CPUSeconds: cpu, PeakRSS: peak, Processes: procs}
		}
	}
	res.Conns = opened
	res.Converged = err == nil
	if err != nil {
		res.Error = err.Error()
	}
	return res, nil
}

// steadyRSS is the median of three readings of the server tree's RSS.
func steadyRSS(pid int) (int64, error) {
	var v [3]int64
	for i := range v {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		r, err := treeRSS(pid)
		if err != nil {
			return 0, err
		}
		v[i] = r
	}
	a, b, c := v[0], v[1], v[2]
	return max(min(a, b), min(max(a, b), c)), nil
}

// dialIdle connects with small buffers, joins and waits for peer.
func dialIdle(ctx context.Context, url, id string, w *wire) (*websocket.Conn, error) {
	p, err := dialPeer(ctx, url, id, w, 1024)
	if err != nil {
		return nil, err
	}
	return p.conn, nil
}
