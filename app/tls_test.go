package app_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mcpfort test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM leaf certificate for 127.0.0.1 and names, valid
// until notAfter, and its PEM key.
func (ca *testCA) issue(t *testing.T, serial int64, notAfter time.Time, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: fmt.Sprintf("leaf %d", serial)},
		NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		DNSNames: names, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startTLS runs cfg and returns the bound address; logs go to log.
func startTLS(t *testing.T, cfg *config.Config, log io.Writer) (addr string, stop func()) {
	t.Helper()
	a, err := app.New(cfg, app.Options{Version: "test", Logger: slog.New(slog.NewTextHandler(log, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(a net.Addr) { addrc <- a }) }()
	select {
	case ad := <-addrc:
		addr = ad.String()
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return addr, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	}
}

// h2Client trusts roots and sends serverName in SNI, whatever address it
// dials; each client has its own connections.
func h2Client(roots *x509.CertPool, serverName string) *http.Client {
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: serverName},
		ForceAttemptHTTP2: true,
	}}
}

// served fetches /healthz and returns the serial of the certificate the
// server presented on that connection; the answer must come over HTTP/2.
func served(t *testing.T, c *http.Client, url string) int64 {
	t.Helper()
	resp, err := c.Get(url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Fatalf("GET /healthz: status %d over %s, ALPN %v", resp.StatusCode, resp.Proto, resp.TLS)
	}
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSCertificateFiles serves certificate files over HTTP/2, an MCP
// session included, and rotates them while a client holds a connection:
// new connections get the new certificate without a restart, the open one
// goes on, and files that do not load leave the last good certificate in
// place.
func TestTLSCertificateFiles(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	c1, k1 := ca.issue(t, 1, time.Now().Add(time.Hour), "mcp.mcpfort.test")
	writeFile(t, certFile, c1)
	writeFile(t, keyFile, k1)
	cfg, err := config.Load(writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
public_url: https://mcp.mcpfort.test
http:
  shutdown_grace: 5s
  tls: {cert_file: %q, key_file: %q}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, certFile, keyFile, filepath.Join(binDir, "mcpfort-everything"))))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuilder
	addr, stop := startTLS(t, cfg, &logs)
	defer stop()
	url := "https://" + addr
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	held := h2Client(roots, "mcp.mcpfort.test")
	if got := served(t, held, url); got != 1 {
		t.Fatalf("first certificate: serial %d", got)
	}
	// An MCP session over HTTP/2, streamed answers included.
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: url + "/mcp", HTTPClient: held, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("MCP over TLS: %v", err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "over h2"}})
	if err != nil || res.IsError || !strings.Contains(fmt.Sprint(res.Content[0]), "over h2") {
		t.Fatalf("tools/call over TLS: %v %+v", err, res)
	}

	// Rotation: the held connection stays open across it.
	c2, k2 := ca.issue(t, 2, time.Now().Add(time.Hour), "mcp.mcpfort.test")
	writeFile(t, certFile, c2)
	writeFile(t, keyFile, k2)
	if got := served(t, h2Client(roots, "mcp.mcpfort.test"), url); got != 2 {
		t.Fatalf("after rotation: new connection got serial %d, want 2", got)
	}
	if got := served(t, held, url); got != 1 {
		t.Fatalf("after rotation: held connection got serial %d, want its own 1", got)
	}
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatalf("session on the held connection after rotation: %v", err)
	}
	cs.Close()

	// Files that do not load: each is logged, the last good pair stays.
	c3, k3 := ca.issue(t, 3, time.Now().Add(time.Hour), "mcp.mcpfort.test")
	expired, expiredKey := ca.issue(t, 4, time.Now().Add(-time.Hour), "mcp.mcpfort.test")
	for _, bad := range []struct {
		name      string
		cert, key []byte
	}{
		{"garbage key", c2, []byte("not a key\n")},
		{"empty certificate", []byte{}, k2},
		{"mismatched pair", c3, k2},
		{"expired", expired, expiredKey},
	} {
		writeFile(t, certFile, bad.cert)
		writeFile(t, keyFile, bad.key)
		if got := served(t, h2Client(roots, "mcp.mcpfort.test"), url); got != 2 {
			t.Fatalf("%s: serial %d, want the last good 2", bad.name, got)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 4 {
		t.Errorf("%d warnings for 4 bad pairs:\n%s", n, logs.String())
	}
	// A removed file is no worse.
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if got := served(t, h2Client(roots, "mcp.mcpfort.test"), url); got != 2 {
		t.Fatalf("removed key: serial %d, want 2", got)
	}
	writeFile(t, certFile, c3)
	writeFile(t, keyFile, k3)
	if got := served(t, h2Client(roots, "mcp.mcpfort.test"), url); got != 3 {
		t.Fatalf("good pair after bad ones: serial %d, want 3", got)
	}
	if !strings.Contains(logs.String(), "certificate reloaded") {
		t.Errorf("no reload logged:\n%s", logs.String())
	}
}

// TestTLSRefusesBadFilesAtStart: a server that cannot serve its
// certificate does not start.
func TestTLSRefusesBadFilesAtStart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeFile(t, certFile, []byte("nothing"))
	writeFile(t, keyFile, []byte("nothing"))
	cfg, err := config.Load(writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
http: {tls: {cert_file: %q, key_file: %q}}
servers: [{name: a, http: {url: "http://127.0.0.1:1/mcp"}}]
`, certFile, keyFile)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(cfg, app.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err == nil || !strings.Contains(err.Error(), "http.tls") {
		t.Fatalf("New with unloadable certificate files: %v", err)
	}
}

// pebble runs Let's Encrypt's test CA on loopback and returns its
// directory URL, the PEM root that signs its HTTPS endpoints, and the PEM
// root it issues under. PEBBLE_VA_ALWAYS_VALID skips challenge validation
// (nothing outside can reach a loopback listener); the rest of the ACME
// exchange is real.
func pebble(t *testing.T) (directory string, httpsRoot []byte, issuingRoot func() []byte) {
	t.Helper()
	root := repoRoot(t)
	out, err := exec.Command(filepath.Join(root, "scripts", "gotool.sh"), "pebble").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("Pebble, the ACME test CA, cannot be built (scripts/gotool.sh pebble): %v\n%s", err, stderr)
	}
	bin := strings.TrimSpace(string(out))

	ca := newTestCA(t)
	dir := t.TempDir()
	c, k := ca.issue(t, 10, time.Now().Add(time.Hour), "localhost")
	writeFile(t, filepath.Join(dir, "cert.pem"), c)
	writeFile(t, filepath.Join(dir, "key.pem"), k)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": filepath.Join(dir, "cert.pem"), "privateKey": filepath.Join(dir, "key.pem"),
		"httpPort": freePort(t), "tlsPort": freePort(t), "keyAlgorithm": "ecdsa",
	}})
	writeFile(t, filepath.Join(dir, "pebble.json"), conf)
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "pebble.json"))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pebbleLog syncBuilder
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			pebbleLog.Write([]byte(sc.Text() + "\n"))
			if strings.Contains(sc.Text(), "Listening on: ") {
				close(listening)
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("pebble log:\n%s", pebbleLog.String())
		}
	})
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatalf("pebble did not start:\n%s", pebbleLog.String())
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	// Pebble says "Listening" just before it binds: the first requests
	// may be refused.
	directory = "https://" + listen + "/dir"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(directory)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble directory: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return directory, ca.pem, func() []byte {
		resp, err := hc.Get("https://" + mgmt + "/roots/0")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("pebble root: %d %v", resp.StatusCode, err)
		}
		return b
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd) // app/ is one level below the module root
}

// TestTLSACME obtains a certificate from Pebble over ACME and serves it
// over HTTP/2; a restart with the CA gone serves it from the cache.
func TestTLSACME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the ACME test CA")
	}
	directory, httpsRoot, issuingRoot := pebble(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pebble-https.pem"), httpsRoot)
	const host = "mcp.mcpfort.test"
	cfgText := fmt.Sprintf(`
listen: 127.0.0.1:0
public_url: https://%s
state: {dir: %q}
http:
  shutdown_grace: 5s
  tls:
    acme:
      directory_url: %q
      email: ops@mcpfort.test
      hosts: [%s]
      ca_file: pebble-https.pem
servers: [{name: a, http: {url: "http://127.0.0.1:1/mcp"}}]
`, host, dir, directory, host)
	cfgPath := filepath.Join(dir, "mcpfort.yaml")
	writeFile(t, cfgPath, []byte(cfgText))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuilder
	addr, stop := startTLS(t, cfg, &logs)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(issuingRoot()) {
		t.Fatal("pebble root is not PEM")
	}
	// The first handshake waits for the certificate if the start-up
	// request has not got it yet.
	c := h2Client(roots, host)
	resp, err := c.Get("https://" + addr + "/healthz")
	if err != nil {
		stop()
		t.Fatalf("GET over ACME certificate: %v\n%s", err, logs.String())
	}
	resp.Body.Close()
	leaf := resp.TLS.PeerCertificates[0]
	if resp.ProtoMajor != 2 || resp.TLS.NegotiatedProtocol != "h2" || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != host {
		t.Fatalf("served %s, ALPN %q, names %v", resp.Proto, resp.TLS.NegotiatedProtocol, leaf.DNSNames)
	}
	// Names outside hosts get no certificate, and the CA is not asked.
	if _, err := h2Client(roots, "other.mcpfort.test").Get("https://" + addr + "/healthz"); err == nil {
		t.Error("a handshake for a name outside hosts succeeded")
	}
	stop()
	if !strings.Contains(logs.String(), "certificate ready") {
		t.Errorf("start-up request not logged:\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "acme", host)); err != nil {
		t.Errorf("certificate not cached: %v", err)
	}

	// Restart against a directory that does not answer: the cached
	// certificate is served.
	cfgPath2 := filepath.Join(dir, "mcpfort2.yaml")
	writeFile(t, cfgPath2, []byte(strings.Replace(cfgText, directory, "https://127.0.0.1:1/dir", 1)))
	cfg2, err := config.Load(cfgPath2)
	if err != nil {
		t.Fatal(err)
	}
	addr, stop = startTLS(t, cfg2, io.Discard)
	defer stop()
	resp, err = h2Client(roots, host).Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("restart from cache: %v", err)
	}
	resp.Body.Close()
	if !resp.TLS.PeerCertificates[0].Equal(leaf) {
		t.Error("restart served another certificate than the cached one")
	}
}
