package procstat_test

import (
	"os"
	"testing"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/procstat"
)

func TestProcStats(t *testing.T) {
	pid := os.Getpid()
	p, err := procstat.Read(pid)
	if err != nil || p.RSS <= 0 || p.PPID <= 0 {
		t.Fatalf("readProc(self) = %+v, %v", p, err)
	}
	s, err := procstat.StartSampler(pid, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(150 * time.Millisecond); time.Now().Before(end); {
	}
	cpu, peak, procs, err := s.Stop()
	if err != nil || cpu <= 0 || peak < p.RSS/2 || procs < 1 {
		t.Fatalf("sampler: cpu %v, peak %d, procs %d, %v", cpu, peak, procs, err)
	}
	if _, err := procstat.Read(1 << 30); err == nil {
		t.Fatal("a pid that cannot exist was read")
	}
}
