package app_test

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/mcpfort/mcpfort/config"
)

// TestSessionsWhileRedisIsDown: with the shared session denylist
// unreachable, a legacy session is not served (fail closed: a deleted
// session must never come back) but answered 503 with Retry-After, so the
// client retries instead of starting sessions that fail the same way;
// 2026-07-28 requests need no denylist and are served.
func TestSessionsWhileRedisIsDown(t *testing.T) {
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
state: {redis: "redis://127.0.0.1:1/0"}
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
	defer stop()
	resp := rawPost(t, base+"/mcp", "", initBody, nil)
	sid := resp.Header.Get("Mcp-Session-Id")
	resp.Body.Close()
	if resp.StatusCode != 200 || sid == "" {
		t.Fatalf("initialize: %d", resp.StatusCode)
	}
	r := rawPost(t, base+"/mcp", "", `{"jsonrpc":"2.0","id":2,"method":"ping"}`, map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"})
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 503 || r.Header.Get("Retry-After") == "" {
		t.Errorf("legacy session with the denylist down: %d %q %s, want 503 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"), body)
	}
	modern := `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	r = rawPost(t, base+"/mcp", "", modern, map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list"})
	body, _ = io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Errorf("2026-07-28 request with Redis down: %d %s", r.StatusCode, body)
	}
}
