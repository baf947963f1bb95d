package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/mcpfort/mcpfort/config"
)

// listenerTLS builds the listener's TLS configuration from http.tls, or
// returns nil for plain HTTP. The certificate files must load now: a
// server that cannot serve its certificate does not start.
func (a *App) listenerTLS() (*tls.Config, error) {
	t := a.cfg.HTTP.TLS
	switch {
	case t.ACME != nil:
		return a.acmeTLS(t.ACME)
	case t.CertFile != "":
		cf, err := newCertFiles(t.CertFile, t.KeyFile, a.log.With("component", "tls"))
		if err != nil {
			return nil, fmt.Errorf("http.tls: %w", err)
		}
		// net/http adds "h2" and "http/1.1" when it serves TLS.
		return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: cf.getCertificate}, nil
	}
	return nil, nil
}

// certFiles serves a certificate pair from files and loads it again when
// either file changes, so that a rotated certificate (a Kubernetes Secret
// updated in place, a renewal by another tool) is served without a
// restart. A pair that does not load is logged and the last good one is
// kept.
//
// A change is noticed by the files' modification times and sizes, checked
// on every handshake (two stat calls, small beside the handshake). File
// system timestamps are coarse, so a file rewritten within the same tick
// as it was read looks unchanged: while a file's modification time is
// within racyWindow of the last read, its bytes are read and compared
// instead.
type certFiles struct {
	certFile, keyFile string
	log               *slog.Logger

	mu   sync.Mutex
	cert *tls.Certificate // the pair in use
	// seen is what the files held at the last read, whether it loaded or
	// not, so that a bad pair is parsed and logged once, not on every
	// handshake.
	seen struct {
		stamp    [2]fileStamp
		cert     []byte
		key      []byte
		racy     bool
		readErr  string
		parseErr bool
	}
}

// racyWindow bounds the timestamp granularity of the file systems
// certificates live on (ext4 and tmpfs: milliseconds; FAT: 2s).
const racyWindow = 2 * time.Second

type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertFiles(certFile, keyFile string, log *slog.Logger) (*certFiles, error) {
	c := &certFiles{certFile: certFile, keyFile: keyFile, log: log}
	stamp, err := c.stamps()
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := c.read()
	if err != nil {
		return nil, err
	}
	pair, err := loadPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s, %s: %w", certFile, keyFile, err)
	}
	c.cert = pair
	c.remember(stamp, certPEM, keyPEM, time.Now())
	return c, nil
}

func (c *certFiles) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refresh()
	return c.cert, nil
}

// refresh loads the files again if they changed since the last read. It
// never drops the pair in use.
func (c *certFiles) refresh() {
	stamp, err := c.stamps()
	if err != nil {
		c.readFailed(err)
		return
	}
	if stamp == c.seen.stamp && !c.seen.racy && c.seen.readErr == "" {
		return
	}
	now := time.Now()
	certPEM, keyPEM, err := c.read()
	if err != nil {
		c.readFailed(err)
		return
	}
	c.seen.readErr = ""
	if bytes.Equal(certPEM, c.seen.cert) && bytes.Equal(keyPEM, c.seen.key) {
		c.remember(stamp, certPEM, keyPEM, now)
		return
	}
	pair, err := loadPair(certPEM, keyPEM)
	c.remember(stamp, certPEM, keyPEM, now)
	if err != nil {
		c.seen.parseErr = true
		c.log.Warn("certificate files changed but do not load: still serving the previous certificate",
			"cert_file", c.certFile, "key_file", c.keyFile, "err", err)
		return
	}
	c.cert = pair
	c.log.Info("certificate reloaded", "cert_file", c.certFile, "subject", pair.Leaf.Subject.String(),
		"not_after", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
}

func (c *certFiles) remember(stamp [2]fileStamp, certPEM, keyPEM []byte, readAt time.Time) {
	c.seen.stamp, c.seen.cert, c.seen.key, c.seen.parseErr = stamp, certPEM, keyPEM, false
	newest := stamp[0].mod
	if stamp[1].mod.After(newest) {
		newest = stamp[1].mod
	}
	c.seen.racy = readAt.Sub(newest) < racyWindow
}

// readFailed logs a file that cannot be read (removed, permissions) once
// per distinct error.
func (c *certFiles) readFailed(err error) {
	if msg := err.Error(); msg != c.seen.readErr {
		c.seen.readErr = msg
		c.log.Warn("certificate files unreadable: still serving the previous certificate", "err", err)
	}
}

func (c *certFiles) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, p := range []string{c.certFile, c.keyFile} {
		fi, err := os.Stat(p)
		if err != nil {
			return s, err
		}
		s[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return s, nil
}

func (c *certFiles) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(c.certFile); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = os.ReadFile(c.keyFile); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// loadPair parses a PEM pair; the leaf must be valid now.
func loadPair(certPEM, keyPEM []byte) (*tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	if pair.Leaf == nil { // set by X509KeyPair since Go 1.23
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, err
		}
	}
	if now := time.Now(); now.After(pair.Leaf.NotAfter) {
		return nil, fmt.Errorf("certificate expired at %s", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return &pair, nil
}

// acmeTLS obtains certificates with ACME (RFC 8555) through
// golang.org/x/crypto/acme/autocert: the TLS-ALPN-01 challenge (RFC 8737)
// is answered on the listener itself, certificates and the account key
// are kept in the cache directory and renewed 30 days before expiry.
func (a *App) acmeTLS(c *config.ACME) (*tls.Config, error) {
	if err := os.MkdirAll(c.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("http.tls.acme.cache_dir: %w", err)
	}
	client := &acme.Client{DirectoryURL: c.DirectoryURL, UserAgent: "mcpfort"}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("http.tls.acme.ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("http.tls.acme.ca_file: %s holds no PEM certificate", c.CAFile)
		}
		client.HTTPClient = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
		}}
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(c.CacheDir),
		HostPolicy: autocert.HostWhitelist(c.Hosts...),
		Email:      c.Email,
		Client:     client,
	}
	log := a.log.With("component", "acme")
	a.acmeWarmUp = func(ctx context.Context) { warmUpACME(ctx, m, c.Hosts, log) }
	cfg := m.TLSConfig() // GetCertificate, and NextProtos h2, http/1.1, acme-tls/1
	cfg.MinVersion = tls.VersionTLS12
	get := cfg.GetCertificate
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := get(hello)
		// Handshakes for names outside the allow-list fail quietly: anyone
		// can send any name. A failure for an allowed name is the
		// operator's business.
		if err != nil && slices.Contains(c.Hosts, hello.ServerName) {
			log.Warn("no certificate for an allowed host", "host", hello.ServerName, "err", err)
		}
		return cert, err
	}
	return cfg, nil
}

// warmUpACME obtains (or loads from the cache) each host's certificate
// once the listener is up, so that the first client does not wait for the
// CA, and the operator sees at start whether it works.
func warmUpACME(ctx context.Context, m *autocert.Manager, hosts []string, log *slog.Logger) {
	for _, h := range hosts {
		hello := &tls.ClientHelloInfo{ServerName: h, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			SignatureSchemes: []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256}, SupportedCurves: []tls.CurveID{tls.CurveP256},
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12}}
		if ctx.Err() != nil {
			return
		}
		cert, err := m.GetCertificate(hello)
		if err != nil {
			log.Warn("certificate not obtained", "host", h, "err", err)
			continue
		}
		if cert.Leaf != nil {
			log.Info("certificate ready", "host", h, "not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}
