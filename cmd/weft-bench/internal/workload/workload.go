package workload

import "time"

// Config is one workload against one server.
type Config struct {
	URL string
	// ReaderURL is where the readers connect (another node of a
	// cluster); empty: URL.
	ReaderURL string
	Trace     string
	Changes   int     // transactions of the trace to replay
	Readers   int     // reader peers
	Rate      float64 // changes/s, open loop; 0 = as fast as possible
	Window    int     // most changes sent but not yet at every reader; 0 = no limit
	PID       int     // server pid (0: no server figures)
	Conns     int     // idle mode: connections to open
	Timeout   time.Duration
}

// Result is what one workload measured. Durations are in milliseconds,
// sizes in bytes.
type Result struct {
	Mode string `json:"mode"`
	URL  string `json:"url"`
	// ReaderURL is the readers' server when it is not URL's.
	ReaderURL string  `json:"reader_url,omitempty"`
	Label     string  `json:"label,omitempty"`
	Trace     string  `json:"trace,omitempty"`
	Txns      int     `json:"txns,omitempty"`
	Rate      float64 `json:"rate"`
	Window    int     `json:"window"`
	Reader    int     `json:"readers,omitempty"`

	Changes          int      `json:"changes,omitempty"`
	ElapsedSeconds   float64  `json:"elapsed_s,omitempty"`
	ChangesPerSec    float64  `json:"changes_per_s,omitempty"`
	DeliveriesPerSec float64  `json:"deliveries_per_s,omitempty"`
	Delivered        int      `json:"delivered,omitempty"`
	Expected         int      `json:"expected,omitempty"`
	Latency          *Latency `json:"latency_ms,omitempty"`
	Converged        bool     `json:"converged"`
	Diverged         []string `json:"diverged,omitempty"`
	TextLen          int      `json:"text_len,omitempty"`
	WriterMessages   int      `json:"writer_messages,omitempty"`
	WriterResyncs    int      `json:"writer_resyncs,omitempty"`
	WindowWaits      int      `json:"window_waits,omitempty"`
	ReaderAcks       int      `json:"reader_acks,omitempty"`
	ReaderMessages   int      `json:"reader_messages,omitempty"`

	Conns        int   `json:"conns,omitempty"`
	RSSBefore    int64 `json:"rss_before,omitempty"`
	RSSAfter     int64 `json:"rss_after,omitempty"`
	BytesPerConn int64 `json:"bytes_per_conn,omitempty"`

	BytesSent     int64        `json:"bytes_sent"`
	BytesReceived int64        `json:"bytes_received"`
	Server        *ServerStats `json:"server,omitempty"`
	ToolCPU       float64      `json:"tool_cpu_s"`
	Error         string       `json:"error,omitempty"`
}

// Latency is writer-to-reader latency from the intended send time.
type Latency struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// ServerStats are the server's figures during the workload, its process
// and all its descendants together.
type ServerStats struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_s"`
	PeakRSS    int64   `json:"peak_rss"`
	Processes  int     `json:"processes"`
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.9999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Millis is d in milliseconds, to the microsecond.
func Millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
