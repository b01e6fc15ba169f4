package testwait

import (
	"strings"
	"sync"
)

// Log is a log sink that tests read while it is written (to wait for a
// line, or to show the tail when a test fails): a strings.Builder under a
// mutex.
type Log struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
