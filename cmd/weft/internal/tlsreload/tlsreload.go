package tlsreload

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
)

// Reloader serves the certificate in certFile/keyFile and reloads it
// on SIGHUP (renewals need no restart). A failed reload keeps the old one.
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
}

// New loads the certificate; it fails when the files do not hold one.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) reload() error {
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	r.cert.Store(&c)
	return nil
}

func (r *Reloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// TLSConfig is the server's TLS configuration (TLS 1.2 or later).
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}
}

// WatchSIGHUP reloads the certificate on every SIGHUP until ctx ends. It
// listens for the signal before it returns, and runs in the background.
func (r *Reloader) WatchSIGHUP(ctx context.Context) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				if err := r.reload(); err != nil {
					r.log.Error("certificate reload failed; keeping the previous one", "err", err)
				} else {
					r.log.Info("certificate reloaded", "cert", r.certFile)
				}
			}
		}
	}()
}
