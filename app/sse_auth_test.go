package app_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// TestLegacySSEProtected puts the go-sdk's HTTP+SSE handler behind a
// protected route with the front door on: the gateway's own credential
// reaches the upstream on every GET and POST and the client's never does;
// the front door demands a token on GET and POST and a session answers
// only to the principal that opened it; a 2026-07-28 client reaches the
// same upstream through the bridge.
func TestLegacySSEProtected(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "legacy", Version: "1"}, nil)
	type in struct {
		Text string `json:"text"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, a in) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	var mu sync.Mutex
	seen := map[string]bool{}
	sdk := mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Method+" "+r.Header.Get("Authorization")] = true
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer gateway-own" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		sdk.ServeHTTP(w, r)
	}))
	defer up.Close()

	iss, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Setenv("MCPFORT_TEST_SSE_UPSTREAM_TOKEN", "gateway-own")
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}]
servers:
  - name: legacy
    path: /mcp
    legacy_sse: true
    sse: {url: %q, bearer_token: {env: MCPFORT_TEST_SSE_UPSTREAM_TOKEN}}
    auth: {scopes: [mcp:tools]}
`, port, iss.URL, up.URL+"/sse"))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	sign := func(sub string) string {
		tok, err := iss.Sign(resourceservertest.Token{Subject: sub, Audience: []string{base + "/mcp"}, Scopes: []string{"mcp:tools"}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice, bob := sign("alice"), sign("bob")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// The go-sdk's HTTP+SSE client through the front door.
	c := mcp.NewClient(&mcp.Implementation{Name: "old", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: base + "/mcp/sse", HTTPClient: &http.Client{Transport: &bearer{token: alice, next: http.DefaultTransport}}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "legacy to legacy"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "legacy to legacy" {
		t.Fatalf("echo through the front door: %v %v", res, err)
	}
	cs.Close()

	// A 2026-07-28 client through the bridge.
	cs, err = authedClient(t, base+"/mcp", bob, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "modern to legacy"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "modern to legacy" {
		t.Fatalf("echo from a 2026-07-28 client: %v %v", res, err)
	}
	cs.Close()

	// No token: 401 on the stream.
	resp, err := http.Get(base + "/mcp/sse")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /mcp/sse without a token: %d", resp.StatusCode)
	}
	// Alice's session is not Bob's.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/mcp/sse", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /mcp/sse as alice: %v %v", resp, err)
	}
	defer resp.Body.Close()
	var endpoint string
	for sc := bufio.NewScanner(resp.Body); endpoint == "" && sc.Scan(); {
		if v, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			endpoint = v
		}
	}
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {bob, http.StatusNotFound}, {alice, http.StatusAccepted}} {
		r := rawPost(t, base+endpoint, tc.token, ping, nil)
		r.Body.Close()
		if r.StatusCode != tc.want {
			t.Fatalf("POST %s with token %q...: %d, want %d", endpoint, tc.token[:min(len(tc.token), 8)], r.StatusCode, tc.want)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for k := range seen {
		if k != "GET Bearer gateway-own" && k != "POST Bearer gateway-own" {
			t.Fatalf("the upstream saw %q", k)
		}
	}
	if !seen["GET Bearer gateway-own"] || !seen["POST Bearer gateway-own"] {
		t.Fatalf("the upstream saw %v", seen)
	}
}
