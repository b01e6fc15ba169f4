package workload_test

import (
	"testing"
	"time"

	"github.com/weft-dev/weft/cmd/weft-bench/internal/workload"
)

func TestPercentile(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 100; i++ {
		v = append(v, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {1, 1}, {0.1, 1}, {99.5, 100}} {
		if got := workload.Percentile(v, c.p); got != c.want {
			t.Errorf("p%g of 1..100 = %d, want %d", c.p, got, c.want)
		}
	}
	if got := workload.Percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one value = %d", got)
	}
	if got := workload.Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %d", got)
	}
	three := []time.Duration{1, 2, 3}
	if workload.Percentile(three, 50) != 2 || workload.Percentile(three, 99) != 3 {
		t.Errorf("p50/p99 of 1,2,3 = %d/%d", workload.Percentile(three, 50), workload.Percentile(three, 99))
	}
}
