package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
)

// TestRewrittenArgumentsRemirrored: when a policy rewrites a tools/call's
// arguments, the Mcp-Param-* headers the gateway forwards say the same as
// the new body, never the original value.
func TestRewrittenArgumentsRemirrored(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "u", Version: "1"}, nil)
	schema := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
		"region": {Type: "string", Extra: map[string]any{"x-mcp-header": "Region"}},
	}}
	srv.AddTool(&mcp.Tool{Name: "where", Description: "says the region", InputSchema: schema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Mcp-Method") == "tools/call" {
			mu.Lock()
			seen = append(seen, r.Header.Get("Mcp-Param-Region"))
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	defer up.Close()
	rewrite := func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if c.Msg.Method == "tools/call" {
				c.SetBody([]byte(strings.Replace(string(c.Body()), "us-west1", "eu-west1", 1)))
			}
			return next(ctx, c)
		}
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, _ := remote.New(remote.Options{URL: up.URL})
	g, _ := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, Middleware: []gateway.Middleware{rewrite}})
	gw := httptest.NewServer(g)
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL, strings.NewReader(modernBody("tools/call", `"name":"where","arguments":{"region":"us-west1"}`)))
	for k, v := range modernHeaders("tools/call", "where") {
		req.Header.Set(k, v)
	}
	req.Header.Set("Mcp-Param-Region", "us-west1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if resp.StatusCode != 200 || len(seen) != 1 || seen[0] != "eu-west1" {
		t.Fatalf("status %d, upstream saw Mcp-Param-Region %q, want eu-west1", resp.StatusCode, seen)
	}
}

// TestRemirrorFailsClosed: when the gateway cannot list the upstream's
// tools, it cannot tell which Mcp-Param-* headers mirror the arguments a
// policy rewrote, so it refuses the call rather than forward the client's
// headers, which still carry the original value.
func TestRemirrorFailsClosed(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "u", Version: "1"}, nil)
	schema := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{
		"region": {Type: "string", Extra: map[string]any{"x-mcp-header": "Region"}},
	}}
	srv.AddTool(&mcp.Tool{Name: "where", Description: "says the region", InputSchema: schema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	var mu sync.Mutex
	var seen []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Mcp-Method") {
		case "tools/list":
			http.Error(w, "listing is down", http.StatusServiceUnavailable)
			return
		case "tools/call":
			mu.Lock()
			seen = append(seen, r.Header.Get("Mcp-Param-Region"))
			mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	defer up.Close()
	rewrite := func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if c.Msg.Method == "tools/call" {
				c.SetBody([]byte(strings.Replace(string(c.Body()), "us-west1", "eu-west1", 1)))
			}
			return next(ctx, c)
		}
	}
	kr, _ := session.NewKeyring(session.GenerateSecret())
	rem, _ := remote.New(remote.Options{URL: up.URL})
	g, _ := gateway.New(gateway.Options{Route: "r", Upstream: rem, Keyring: kr, UpstreamEra: gateway.EraModern, Middleware: []gateway.Middleware{rewrite}})
	gw := httptest.NewServer(g)
	defer gw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", gw.URL, strings.NewReader(modernBody("tools/call", `"name":"where","arguments":{"region":"us-west1"}`)))
	for k, v := range modernHeaders("tools/call", "where") {
		req.Header.Set(k, v)
	}
	req.Header.Set("Mcp-Param-Region", "us-west1")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Fatalf("the upstream was called with Mcp-Param-Region %q (status %d %s)", seen, resp.StatusCode, body)
	}
	if !strings.Contains(string(body), "could not learn the tools") {
		t.Fatalf("answer %d %s, want a refusal saying the tools could not be listed", resp.StatusCode, body)
	}
}
