package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// procInfo is one process as /proc shows it.
type procInfo struct {
	ppid  int
	ticks uint64 // utime + stime
	rss   int64  // bytes
}

// readProc reads /proc/pid/stat and /proc/pid/statm.
func readProc(pid int) (procInfo, error) {
	var p procInfo
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. Field 3 (state) is f[0], ppid f[1], utime f[11], stime f[12].
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return p, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return p, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	p.ppid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	p.ticks = ut + st
	if m, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid)); err == nil {
		if g := strings.Fields(string(m)); len(g) > 1 {
			pages, _ := strconv.ParseInt(g[1], 10, 64)
			p.rss = pages * int64(os.Getpagesize())
		}
	}
	return p, nil
}

// procTree returns pid and its live descendants (weft runs its Automerge
// work in child worker processes, so a server is the whole tree).
func procTree(pid int) (map[int]procInfo, error) {
	root, err := readProc(pid)
	if err != nil {
		return nil, fmt.Errorf("server pid %d: %w", pid, err)
	}
	tree := map[int]procInfo{pid: root}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return tree, nil
	}
	all := map[int]procInfo{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		if p, err := readProc(n); err == nil {
			all[n] = p
		}
	}
	for grew := true; grew; {
		grew = false
		for n, p := range all {
			if _, in := tree[p.ppid]; in {
				tree[n] = p
				delete(all, n)
				grew = true
			}
		}
	}
	return tree, nil
}

// treeRSS is the summed resident memory of pid and its descendants.
// Pages shared between processes (the same binary) count once per process.
func treeRSS(pid int) (int64, error) {
	t, err := procTree(pid)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, p := range t {
		sum += p.rss
	}
	return sum, nil
}

// sampler follows a server's process tree during a run: CPU time used
// since it started, and the peak of the summed RSS.
type sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu    sync.Mutex
	base  map[int]uint64
	last  map[int]uint64
	peak  int64
	procs int
	err   error
}

func startSampler(pid int, every time.Duration) (*sampler, error) {
	s := &sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{}),
		base: map[int]uint64{}, last: map[int]uint64{}}
	t, err := procTree(pid)
	if err != nil {
		return nil, err
	}
	for n, p := range t {
		s.base[n] = p.ticks
	}
	s.record(t)
	go func() {
		defer close(s.done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tk.C:
				s.sample()
			}
		}
	}()
	return s, nil
}

func (s *sampler) sample() {
	t, err := procTree(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return
	}
	s.recordLocked(t)
}

func (s *sampler) record(t map[int]procInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(t)
}

func (s *sampler) recordLocked(t map[int]procInfo) {
	var rss int64
	for n, p := range t {
		s.last[n] = p.ticks
		rss += p.rss
	}
	s.peak = max(s.peak, rss)
	s.procs = max(s.procs, len(t))
}

// Stop takes a last sample and returns the server's CPU seconds during the
// run (processes that exited count up to their last sample), the peak RSS
// and the largest number of processes seen.
func (s *sampler) Stop() (cpu float64, peak int64, procs int, err error) {
	close(s.stop)
	<-s.done
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ticks uint64
	for n, v := range s.last {
		if v >= s.base[n] {
			ticks += v - s.base[n]
		}
	}
	return float64(ticks) / clockTicks, s.peak, s.procs, s.err
}

// selfCPU is this process's CPU seconds so far.
func selfCPU() float64 {
	p, err := readProc(os.Getpid())
	if err != nil {
		return 0
	}
	return float64(p.ticks) / clockTicks
}
