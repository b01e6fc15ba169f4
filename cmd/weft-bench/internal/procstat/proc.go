package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// Info is one process as /proc shows it.
type Info struct {
	PPID  int
	Ticks uint64 // utime + stime
	RSS   int64  // bytes
}

// Read reads /proc/pid/stat and /proc/pid/statm.
func Read(pid int) (Info, error) {
	var p Info
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
	p.PPID, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	p.Ticks = ut + st
	if m, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid)); err == nil {
		if g := strings.Fields(string(m)); len(g) > 1 {
			pages, _ := strconv.ParseInt(g[1], 10, 64)
			p.RSS = pages * int64(os.Getpagesize())
		}
	}
	return p, nil
}

// tree returns pid and its live descendants (weft runs its Automerge
// work in child worker processes, so a server is the whole tree).
func tree(pid int) (map[int]Info, error) {
	root, err := Read(pid)
	if err != nil {
		return nil, fmt.Errorf("server pid %d: %w", pid, err)
	}
	tree := map[int]Info{pid: root}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return tree, nil
	}
	all := map[int]Info{}
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == pid {
			continue
		}
		if p, err := Read(n); err == nil {
			all[n] = p
		}
	}
	for grew := true; grew; {
		grew = false
		for n, p := range all {
			if _, in := tree[p.PPID]; in {
				tree[n] = p
				delete(all, n)
				grew = true
			}
		}
	}
	return tree, nil
}

// TreeRSS is the summed resident memory of pid and its descendants.
// Pages shared between processes (the same binary) count once per process.
func TreeRSS(pid int) (int64, error) {
	t, err := tree(pid)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, p := range t {
		sum += p.RSS
	}
	return sum, nil
}

// SelfCPU is this process's CPU seconds so far.
func SelfCPU() float64 {
	p, err := Read(os.Getpid())
	if err != nil {
		return 0
	}
	return float64(p.Ticks) / clockTicks
}

// SteadyRSS is the median of three readings, 100 ms apart, of the summed
// RSS of pid and its descendants.
func SteadyRSS(pid int) (int64, error) {
	var v [3]int64
	for i := range v {
		if i > 0 {
			time.Sleep(100 * time.Millisecond)
		}
		r, err := TreeRSS(pid)
		if err != nil {
			return 0, err
		}
		v[i] = r
	}
	a, b, c := v[0], v[1], v[2]
	return max(min(a, b), min(max(a, b), c)), nil
}
