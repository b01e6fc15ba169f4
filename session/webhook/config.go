package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weft-dev/weft/session"
)

// Hook is one receiver: where to POST, the secret that signs the
// payloads, and which events of which documents it wants.
type Hook struct {
	URL string `json:"url"`
	// Secret signs the payloads. Load fills it from SecretFile when that
	// is given instead (path relative to the configuration file).
	Secret     string `json:"secret,omitempty"`
	SecretFile string `json:"secretFile,omitempty"`
	// Events are the event types delivered: "change", "join", "leave".
	// Empty means ["change"].
	Events []string `json:"events,omitempty"`
	// Docs are the document ids delivered; "*" (or empty) is every document.
	Docs []string `json:"docs,omitempty"`
}

// Config configures a Dispatcher. Zero fields take the defaults noted.
type Config struct {
	Hooks []Hook
	// Debounce is the window in which one document's change events become
	// one delivery (500ms).
	Debounce time.Duration
	// Timeout bounds each HTTP request, body included (10s).
	Timeout time.Duration
	// MaxAttempts is how many times a delivery is tried (8), and MaxAge
	// how long after its first attempt it may still be retried (1h);
	// whichever comes first gives up.
	MaxAttempts int
	MaxAge      time.Duration
	// RetryBase is the delay before the second attempt (1s); each later
	// one doubles it, up to RetryMax (5m), with jitter.
	RetryBase time.Duration
	RetryMax  time.Duration
	// QueueSize bounds the events Handle buffers for the dispatcher
	// goroutine (4096); beyond it events are dropped and counted.
	QueueSize int
	// MaxQueued bounds the deliveries waiting to be sent, over all hooks
	// (10000); beyond it new deliveries are dropped and logged.
	MaxQueued int
	// Concurrency bounds the requests in flight at once (16).
	Concurrency int
	// LogSize is how many deliveries the in-memory log keeps (1000).
	LogSize int
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Debounce, 500*time.Millisecond)
	def(&c.Timeout, 10*time.Second)
	def(&c.MaxAge, time.Hour)
	def(&c.RetryBase, time.Second)
	def(&c.RetryMax, 5*time.Minute)
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	defInt(&c.MaxAttempts, 8)
	defInt(&c.QueueSize, 4096)
	defInt(&c.MaxQueued, 10000)
	defInt(&c.Concurrency, 16)
	defInt(&c.LogSize, 1000)
}

// fileConfig is the JSON form of Config: durations as Go duration strings.
type fileConfig struct {
	Hooks       []Hook `json:"hooks"`
	Debounce    string `json:"debounce,omitempty"`
	Timeout     string `json:"timeout,omitempty"`
	MaxAttempts int    `json:"maxAttempts,omitempty"`
	MaxAge      string `json:"maxAge,omitempty"`
	RetryBase   string `json:"retryBase,omitempty"`
	RetryMax    string `json:"retryMax,omitempty"`
	QueueSize   int    `json:"queueSize,omitempty"`
	MaxQueued   int    `json:"maxQueued,omitempty"`
	Concurrency int    `json:"concurrency,omitempty"`
	LogSize     int    `json:"logSize,omitempty"`
}

// Load reads and validates a configuration file: either a JSON array of
// hooks, or an object {"hooks": [...], "debounce": "500ms", "timeout":
// "10s", "maxAttempts": 8, "maxAge": "1h", "retryBase": "1s", "retryMax":
// "5m", ...}. A hook's secretFile is read here (relative to the file's
// directory, surrounding white space trimmed). Unknown fields are errors,
// so that a typo does not silently disable a hook.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("webhooks: %w", err)
	}
	cfg, err := parse(b, filepath.Dir(path))
	if err != nil {
		return Config{}, fmt.Errorf("webhooks %s: %w", path, err)
	}
	return cfg, nil
}

func parse(b []byte, dir string) (Config, error) {
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var err error
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '[' {
		err = dec.Decode(&fc.Hooks)
	} else {
		err = dec.Decode(&fc)
	}
	if err != nil {
		return Config{}, fmt.Errorf("invalid JSON: %w", err)
	}
	cfg := Config{
		Hooks:       fc.Hooks,
		MaxAttempts: fc.MaxAttempts,
		QueueSize:   fc.QueueSize,
		MaxQueued:   fc.MaxQueued,
		Concurrency: fc.Concurrency,
		LogSize:     fc.LogSize,
	}
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{
		{"debounce", fc.Debounce, &cfg.Debounce},
		{"timeout", fc.Timeout, &cfg.Timeout},
		{"maxAge", fc.MaxAge, &cfg.MaxAge},
		{"retryBase", fc.RetryBase, &cfg.RetryBase},
		{"retryMax", fc.RetryMax, &cfg.RetryMax},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v < 0 {
			return Config{}, fmt.Errorf("%s: want a duration such as \"500ms\" or \"2s\", got %q", d.name, d.s)
		}
		*d.dst = v
	}
	for i := range cfg.Hooks {
		h := &cfg.Hooks[i]
		if h.SecretFile != "" {
			if h.Secret != "" {
				return Config{}, fmt.Errorf("hook %d (%s): give secret or secretFile, not both", i, h.URL)
			}
			p := h.SecretFile
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			s, err := os.ReadFile(p)
			if err != nil {
				return Config{}, fmt.Errorf("hook %d (%s): secretFile: %w", i, h.URL, err)
			}
			h.Secret = strings.TrimSpace(string(s))
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks every hook: an absolute http or https URL, a non-empty
// secret, known event types, non-empty document ids.
func (c Config) Validate() error {
	var errs []error
	for i, h := range c.Hooks {
		if err := h.validate(); err != nil {
			errs = append(errs, fmt.Errorf("hook %d (%s): %w", i, redact(h.URL), err))
		}
	}
	if c.MaxAttempts < 0 || c.QueueSize < 0 || c.MaxQueued < 0 || c.Concurrency < 0 || c.LogSize < 0 {
		errs = append(errs, errors.New("negative limits are not allowed"))
	}
	return errors.Join(errs...)
}

func (h Hook) validate() error {
	u, err := url.Parse(h.URL)
	switch {
	case h.URL == "":
		return errors.New("url is required")
	case err != nil:
		return fmt.Errorf("url: %w", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("url must be http:// or https://, not %q", u.Scheme+":")
	case u.Host == "":
		return errors.New("url has no host")
	case u.Fragment != "":
		return errors.New("url must not have a #fragment")
	case h.Secret == "":
		return errors.New("secret (or secretFile) is required and must not be empty")
	}
	for _, e := range h.Events {
		switch e {
		case session.EventChange, session.EventJoin, session.EventLeave:
		default:
			return fmt.Errorf("unknown event %q (want change, join or leave)", e)
		}
	}
	for _, d := range h.Docs {
		if strings.TrimSpace(d) == "" {
			return errors.New("empty document id in docs")
		}
	}
	return nil
}

// redact drops what may carry credentials (user info, query) from a URL
// before it is logged or shown in the delivery log.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}
