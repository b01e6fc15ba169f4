package membudget

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Default leaves the other half of the machine (or container)
// to connections, the Go heap and the page cache. Over budget, only idle
// documents are unloaded, so a tight budget costs reloads, not errors.
const Default = "50%"

// Parse reads --memory-budget: a byte size ("512MiB", "2GB",
// "1.5GiB", "1048576"), a percentage of the memory available to the
// process ("50%"), or 0 / "off" for no budget. avail is that memory (0:
// unknown, which makes a percentage mean no budget).
func Parse(s string, avail int64) (int64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "0", "off", "none", "unlimited":
		return 0, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f <= 0 || f > 100 {
			return 0, fmt.Errorf("--memory-budget %q: a percentage must be in (0, 100]", s)
		}
		return int64(f / 100 * float64(avail)), nil
	}
	return parseBytes(s)
}

// parseBytes reads a size with an optional unit: B, KB/MB/GB/TB (powers
// of 1000), KiB/MiB/GiB/TiB or K/M/G/T (powers of 1024).
func parseBytes(s string) (int64, error) {
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("--memory-budget %q: not a size (like 512MiB or 2GB)", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("--memory-budget %q: unknown unit %q (B, KB, MB, GB, KiB, MiB, GiB)", s, unit)
	}
	return int64(f * mult), nil
}

// Available is the cgroup (v2 or v1) memory limit when there is one,
// else the machine's memory; 0 when neither can be read.
func Available() int64 {
	mem := int64(0)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				mem = kb << 10
			}
		}
	}
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if lim, err := readLimit(p); err == nil && lim > 0 && (mem == 0 || lim < mem) {
			mem = lim
		}
	}
	return mem
}

func readLimit(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, errors.New("no limit")
	}
	return strconv.ParseInt(s, 10, 64)
}
