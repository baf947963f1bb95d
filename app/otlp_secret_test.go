package app_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
)

// TestOTLPHeadersFromSecrets: observability.tracing.headers values are
// secret references (here a file), resolved at start and sent with every
// export; the collector receives them, and the value never shows in the
// configuration check.
func TestOTLPHeadersFromSecrets(t *testing.T) {
	const canary = "otlp-canary-7f3a9c"
	got := make(chan string, 16)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			select {
			case got <- r.Header.Get("Authorization"):
			default:
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "otlp-token"), []byte("Bearer "+canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
observability:
  tracing:
    enabled: true
    endpoint: %q
    protocol: http/protobuf
    headers: {authorization: "file:%s"}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, collector.URL, filepath.Join(dir, "otlp-token"), filepath.Join(binDir, "mcpfort-everything")))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	base, stop := start(t, cfg)
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
		t.Fatal(err)
	}
	cs.Close()
	stop() // shutting down flushes the spans
	select {
	case h := <-got:
		if h != "Bearer "+canary {
			t.Fatalf("the collector got Authorization %q", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no spans reached the collector")
	}
	if strings.Contains(fmt.Sprintf("%+v", cfg.Observability), canary) {
		t.Error("the configuration holds the secret's value")
	}
}
