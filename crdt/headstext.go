package crdt

// Heads travel in JSON, URLs and headers in one form: comma-separated hex
// hashes ("" for none), so that a version read anywhere can be passed back
// as is (?at=, If-Match, baseHeads).

// MarshalText implements encoding.TextMarshaler.
func (hs Heads) MarshalText() ([]byte, error) { return []byte(hs.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (hs *Heads) UnmarshalText(b []byte) error {
	h, err := ParseHeads(string(b))
	if err != nil {
		return err
	}
	*hs = h
	return nil
}
