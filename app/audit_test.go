package app_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
)

// TestAuditLogThroughTheBinary: calls through a running gateway leave
// audit records that survive the shutdown, verify, and export.
func TestAuditLogThroughTheBinary(t *testing.T) {
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, filepath.Join(binDir, "mcpfort-everything")))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	base, stop := start(t, cfg)
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "audited"}}); err != nil {
			t.Fatal(err)
		}
	}
	cs.Close()
	stop() // flushes the log

	mcpfort := filepath.Join(binDir, "mcpfort")
	out, err := exec.Command(mcpfort, "audit", "verify", "--config", p).CombinedOutput()
	if err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	out, err = exec.Command(mcpfort, "audit", "export", "--config", p).CombinedOutput()
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), `"echo"`); n < 3 {
		t.Fatalf("export holds %d records of the echo calls, want 3:\n%s", n, out)
	}
	if strings.Contains(string(out), "audited") {
		t.Fatal("arguments were stored in clear although record_arguments is off")
	}
}
