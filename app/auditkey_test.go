package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway/policy/audit"
)

// auditedGateway writes a configuration in a fresh state directory.
func auditedGateway(t *testing.T) (cfgPath, dir string) {
	t.Helper()
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, filepath.Join(binDir, "mcpfort-everything")))
	return p, filepath.Dir(p)
}

// callThrough starts the gateway, makes n calls, and stops it.
func callThrough(t *testing.T, cfgPath string, n int) {
	t.Helper()
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	base, stop := start(t, cfg)
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	cs.Close()
	stop()
}

func mcpfortAudit(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "mcpfort"), append([]string{"audit"}, args...)...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func exportedHashes(t *testing.T, cfgPath string) []string {
	t.Helper()
	out, code := mcpfortAudit(t, "export", "--config", cfgPath)
	if code != 0 {
		t.Fatalf("export: %s", out)
	}
	var hashes []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, r.Hash)
	}
	return hashes
}

// TestAuditChainKeyCreated: the first start creates the chain key, sealed
// with the key-encryption key, and the heads file, both private; later
// starts keep the key; verify needs the key-encryption key to open it.
func TestAuditChainKeyCreated(t *testing.T) {
	p, dir := auditedGateway(t)
	callThrough(t, p, 2)
	keyFile := filepath.Join(dir, "audit.key")
	for _, f := range []string{keyFile, filepath.Join(dir, "audit-heads.jsonl")} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, st.Mode(), err)
		}
	}
	b, _ := os.ReadFile(keyFile)
	var kf struct {
		Format    string `json:"format"`
		KeyedFrom int64  `json:"keyed_from"`
		Sealed    string `json:"sealed"`
	}
	if err := json.Unmarshal(b, &kf); err != nil || kf.Format != "mcpfort-audit-chain-key/v1" || kf.KeyedFrom != 1 || kf.Sealed == "" {
		t.Fatalf("key file %s: %v", b, err)
	}
	pub1, _ := mcpfortAudit(t, "head", "--public-key", "--config", p)
	callThrough(t, p, 2)
	pub2, _ := mcpfortAudit(t, "head", "--public-key", "--config", p)
	if pub1 != pub2 || len(strings.TrimSpace(pub1)) != 43 {
		t.Fatalf("head public key changed across restarts: %q %q", pub1, pub2)
	}
	if out, code := mcpfortAudit(t, "verify", "--config", p); code != 0 || !strings.Contains(out, "chain intact") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	for _, h := range exportedHashes(t, p) {
		if !strings.HasPrefix(h, "hmac-sha256:") {
			t.Fatalf("unkeyed record %s", h)
		}
	}
	// Sealed: another key-encryption key cannot open it.
	kek := filepath.Join(dir, "authserver.kek")
	if err := os.WriteFile(kek, []byte("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := mcpfortAudit(t, "verify", "--config", p); code != 1 || !strings.Contains(out, "cannot decrypt") {
		t.Fatalf("verify with another key-encryption key: %d\n%s", code, out)
	}
}

// TestAuditChainKeyUpgrade: a chain written unkeyed by an earlier version
// stays verifiable: the key created at the next start keys the records
// after it.
func TestAuditChainKeyUpgrade(t *testing.T) {
	p, dir := auditedGateway(t)
	s, err := audit.NewStore(openState(t, "sqlite", dir), audit.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Append(context.Background(), []audit.Record{{Time: time.Now(), Server: "everything", Method: "tools/call", Tool: fmt.Sprint(i), Decision: audit.Allow, Status: audit.StatusOK}}); err != nil {
			t.Fatal(err)
		}
	}
	callThrough(t, p, 2)
	b, _ := os.ReadFile(filepath.Join(dir, "audit.key"))
	if !strings.Contains(string(b), `"keyed_from": 4`) {
		t.Fatalf("key file %s", b)
	}
	hashes := exportedHashes(t, p)
	for i, h := range hashes {
		if keyed := strings.HasPrefix(h, "hmac-sha256:"); keyed != (i >= 3) {
			t.Fatalf("record %d: %s", i+1, h)
		}
	}
	if out, code := mcpfortAudit(t, "verify", "--config", p); code != 0 || !strings.Contains(out, "chain intact") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
}

// TestAuditChainKeyBare: a bare key file, as operators made them before
// keys were sealed, still keys the chain.
func TestAuditChainKeyBare(t *testing.T) {
	p, dir := auditedGateway(t)
	if err := os.WriteFile(filepath.Join(dir, "audit.key"), []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	callThrough(t, p, 2)
	if out, code := mcpfortAudit(t, "verify", "--config", p); code != 0 || !strings.Contains(out, "chain intact") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	if h := exportedHashes(t, p); !strings.HasPrefix(h[0], "hmac-sha256:") {
		t.Fatalf("unkeyed: %v", h)
	}
}

// TestAuditChainKeyMissing: when the key of a keyed chain is gone the
// gateway refuses to start rather than key new records with a new one.
func TestAuditChainKeyMissing(t *testing.T) {
	p, dir := auditedGateway(t)
	callThrough(t, p, 1)
	if err := os.Remove(filepath.Join(dir, "audit.key")); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(cfg, app.Options{Version: "test"}); err == nil || !strings.Contains(err.Error(), "restore it") {
		t.Fatalf("New = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "audit.key")); err == nil {
		t.Fatal("a new chain key was created")
	}
}
