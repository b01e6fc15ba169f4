package trace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Patch is one edit of a sequential trace: at code point Pos, delete Del
// code points, then insert Insert.
type Patch struct {
	Pos, Del int
	Insert   string
}

// UnmarshalJSON reads the trace form [pos, delCount, insertString].
func (p *Patch) UnmarshalJSON(b []byte) error {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if len(a) != 3 {
		return fmt.Errorf("patch %s: want [pos, del, insert]", b)
	}
	if err := json.Unmarshal(a[0], &p.Pos); err != nil {
		return fmt.Errorf("patch position: %w", err)
	}
	if err := json.Unmarshal(a[1], &p.Del); err != nil {
		return fmt.Errorf("patch delete count: %w", err)
	}
	if err := json.Unmarshal(a[2], &p.Insert); err != nil {
		return fmt.Errorf("patch insert: %w", err)
	}
	return nil
}

// Txn is one transaction of a trace: patches applied in order.
type Txn struct {
	Patches []Patch `json:"patches"`
	// Parents is present only in concurrent traces, which this tool does
	// not replay.
	Parents json.RawMessage `json:"parents,omitempty"`
}

// Trace is a sequential editing trace (../shared/data/README.md).
type Trace struct {
	StartContent string `json:"startContent"`
	EndContent   string `json:"endContent"`
	Txns         []Txn  `json:"txns"`
}

// Load reads a trace file, gzipped or plain JSON.
func Load(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	var t Trace
	if err := json.NewDecoder(r).Decode(&t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, tx := range t.Txns {
		if len(tx.Parents) > 0 {
			return nil, fmt.Errorf("%s: transaction %d has parents: a concurrent trace; only sequential traces can be replayed", path, i)
		}
	}
	return &t, nil
}
