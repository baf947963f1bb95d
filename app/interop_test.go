package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
)

// nodeDeps installs the pinned npm packages of testdata/node, again
// whenever the lock file changed (as make node-deps does).
func nodeDeps(t *testing.T) (node, dir string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping interop with the TypeScript peers")
	}
	dir, _ = filepath.Abs(filepath.Join("testdata", "node"))
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(lock))
	stamp := filepath.Join(dir, "node_modules", ".mcpfort-lock-sha256")
	if got, _ := os.ReadFile(stamp); strings.TrimSpace(string(got)) != sum {
		ci := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
		if err := os.WriteFile(stamp, []byte(sum+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return node, dir
}

type tsResult struct {
	SessionID       string   `json:"sessionId"`
	ProtocolVersion string   `json:"protocolVersion"`
	Tools           []string `json:"tools"`
	Text            string   `json:"text"`
	Progress        int      `json:"progress"`
}

func runTSClient(t *testing.T, node, dir, url string, args ...string) tsResult {
	t.Helper()
	cmd := exec.Command(node, append([]string{"client.mjs", url}, args...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("TypeScript client: %v\n%s%s", err, out, stderr)
	}
	var r tsResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("TypeScript client printed %q: %v", out, err)
	}
	return r
}

// TestTypeScriptClient drives mcpfort with the official TypeScript SDK
// client, over a local server (stdio) and a remote one (HTTP).
func TestTypeScriptClient(t *testing.T) {
	node, dir := nodeDeps(t)
	base, stop := start(t, stdioConfig(t, "per_session"))
	defer stop()
	r := runTSClient(t, node, dir, base+"/mcp", "echo", `{"text":"from typescript"}`, "test_tool_with_progress")
	if r.Text != "from typescript" || r.SessionID == "" || r.Progress < 3 || !contains(r.Tools, "test_simple_text") {
		t.Fatalf("through mcpfort (stdio): %+v", r)
	}

	// The same through an HTTP upstream: mcpfort fronting a second mcpfort.
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
servers:
  - name: remote
    path: /mcp
    http: {url: %q}
`, base+"/mcp"))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	base2, stop2 := start(t, cfg)
	defer stop2()
	r = runTSClient(t, node, dir, base2+"/mcp", "echo", `{"text":"two hops"}`, "test_tool_with_progress")
	if r.Text != "two hops" || r.Progress < 3 {
		t.Fatalf("through two gateways (http): %+v", r)
	}
}

// TestServerEverythingStdio fronts the reference server-everything (npm)
// as a stdio upstream and drives it with the Go SDK client in both eras.
func TestServerEverythingStdio(t *testing.T) {
	node, dir := nodeDeps(t)
	entry := filepath.Join(dir, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js")
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q, %q, stdio]}
`, node, entry))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	base, stop := start(t, cfg)
	defer stop()
	for _, version := range []string{"2025-11-25", "2025-06-18", ""} {
		c := mcp.NewClient(&mcp.Implementation{Name: "go-interop", Version: "1"}, nil)
		var opts *mcp.ClientSessionOptions
		if version != "" {
			opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
		}
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, opts)
		if err != nil {
			t.Fatalf("connect %q: %v", version, err)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi " + version}})
		if err != nil {
			t.Fatalf("echo %q: %v", version, err)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(got, "hi "+version) {
			t.Fatalf("echo %q = %q", version, got)
		}
		sum, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "get-sum", Arguments: map[string]any{"a": 2, "b": 3}})
		if err != nil || !strings.Contains(sum.Content[0].(*mcp.TextContent).Text, "5") {
			t.Fatalf("get-sum %q: %v %v", version, sum, err)
		}
		cs.Close()
	}
	// And with the TypeScript client.
	r := runTSClient(t, node, dir, base+"/mcp", "echo", `{"message":"ts to ts"}`)
	if !strings.Contains(r.Text, "ts to ts") {
		t.Fatalf("TypeScript client through mcpfort to server-everything: %+v", r)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
