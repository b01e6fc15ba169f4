package webhook

// The delivery log: a ring of Config.LogSize entries, guarded by Dispatcher.mu.

func (d *Dispatcher) logLocked(rec *Delivery) {
	if len(d.ring) < d.cfg.LogSize {
		d.ring = append(d.ring, rec)
		return
	}
	d.ring[d.ringPos] = rec
	d.ringPos = (d.ringPos + 1) % len(d.ring)
}

// Deliveries returns the logged deliveries of doc ("" for all), newest
// first, at most limit (<= 0: all kept).
func (d *Dispatcher) Deliveries(doc string, limit int) []Delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Delivery
	n := len(d.ring)
	for i := range n {
		// Newest is just before ringPos (or last, before the ring wraps).
		rec := d.ring[(d.ringPos-1-i+2*n)%n]
		if doc != "" && rec.DocumentID != doc {
			continue
		}
		out = append(out, *rec)
		if limit > 0 && len(out) >= limit {
			break
		}
	}
	return out
}
