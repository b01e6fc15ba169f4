package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weft-dev/weft/crdt"
	"github.com/weft-dev/weft/storage/testwait"
)

// selfSigned writes a certificate for 127.0.0.1 with the given serial and
// returns it.
func selfSigned(t testing.TB, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "weft test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	return cert
}

func TestTLSAndReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	c1 := selfSigned(t, certFile, keyFile, 1)
	s := startServer(t, "", "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(s.url, "https://") || !strings.HasPrefix(s.ws, "wss://") {
		t.Fatalf("urls %s %s", s.url, s.ws)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c1)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(s.url + "/healthz")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz over https: %d", resp.StatusCode)
	}
	a := dial(t, s, "tls-a", dialOpts{tls: &tls.Config{RootCAs: pool}})
	doc := crdt.NewDocumentID()
	must(t, a.edit(doc, 0, 0, "over wss"))
	b := dial(t, s, "tls-b", dialOpts{tls: &tls.Config{RootCAs: pool}})
	must(t, b.open(doc))
	testwait.Until(t, 5*time.Second, "b over wss", func() bool { return b.text(doc) == "over wss" })
	// Plain HTTP on the TLS port gets nowhere.
	if r, err := http.Get("http://" + strings.TrimPrefix(s.url, "https://") + "/healthz"); err == nil {
		if r.StatusCode == http.StatusOK {
			t.Error("plain http served on the TLS port")
		}
		r.Body.Close()
	}

	// A renewed certificate is served after SIGHUP, without a restart.
	selfSigned(t, certFile, keyFile, 2)
	must(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	addr := strings.TrimPrefix(s.url, "https://")
	testwait.Until(t, 5*time.Second, "the new certificate", func() bool {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return false
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64() == 2
	})
	// Existing connections keep working.
	must(t, a.edit(doc, 8, 0, "!"))
	testwait.Until(t, 5*time.Second, "b after the reload", func() bool { return b.text(doc) == "over wss!" })
}
