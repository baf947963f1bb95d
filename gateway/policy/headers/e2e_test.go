package headers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway/policy/headers"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
)

// TestThroughGateway puts the headers in front of a real gateway: MCP
// sessions (JSON and SSE replies) work through the wrapper, and an
// authenticated MCP response carries no-store and the other headers.
func TestThroughGateway(t *testing.T) {
	h, err := headers.New(headers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, era := range policytest.Eras[:2] {
		t.Run(era.Name, func(t *testing.T) {
			up := policytest.NewUpstream(t, era.Stateless)
			gw := policytest.NewGateway(t, up.URL, policytest.Options{Wrap: h.Wrap})
			cs := policytest.Connect(t, gw.URL, era, policytest.Client(http.Header{"Authorization": {"Bearer test"}}, nil))
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "through"}})
			if err != nil || policytest.Text(res) != "through" {
				t.Fatalf("echo: %v, %+v", err, res)
			}
			req, _ := http.NewRequest("POST", gw.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer test")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			for k, want := range map[string]string{"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Strict-Transport-Security": ""} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}
