package procstat

import (
	"sync"
	"time"
)

// Sampler follows a server's process tree during a run: CPU time used
// since it started, and the peak of the summed RSS.
type Sampler struct {
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

// StartSampler reads pid's tree now, then once each period every, until
// Stop.
func StartSampler(pid int, every time.Duration) (*Sampler, error) {
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{}),
		base: map[int]uint64{}, last: map[int]uint64{}}
	t, err := tree(pid)
	if err != nil {
		return nil, err
	}
	for n, p := range t {
		s.base[n] = p.Ticks
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

func (s *Sampler) sample() {
	t, err := tree(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return
	}
	s.recordLocked(t)
}

func (s *Sampler) record(t map[int]Info) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recordLocked(t)
}

func (s *Sampler) recordLocked(t map[int]Info) {
	var rss int64
	for n, p := range t {
		s.last[n] = p.Ticks
		rss += p.RSS
	}
	s.peak = max(s.peak, rss)
	s.procs = max(s.procs, len(t))
}

// Stop takes a last sample and returns the server's CPU seconds during the
// run (processes that exited count up to their last sample), the peak RSS
// and the largest number of processes seen.
func (s *Sampler) Stop() (cpu float64, peak int64, procs int, err error) {
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
