package app_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/internal/everything"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// TestVirtualServerPolicies: a virtual server of the conformance server
// over HTTP (in the 2026-07-28 era, through the era bridge) and over stdio,
// configured in YAML; the route's policies act on
// the merged names (a tool filter entry, a rate limit keyed by tool, schema
// checks and pinning from the merged list, PII masking of a member's
// result) and a member's own filter on its names, for clients of both
// eras.
func TestVirtualServerPolicies(t *testing.T) {
	srv, err := everything.New(everything.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := everything.NewHandler(srv, everything.HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := httptest.NewServer(h)
	defer ev.Close()
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:0
log: {level: error}
servers:
  - name: team
    path: /mcp
    aggregate:
      timeout: 3s
      upstreams:
        - {name: ev, prefix: ev_, era: modern, http: {url: %q}}
        - name: st
          prefix: st_
          stdio: {command: [%q, -watch-interval=0]}
          tools: {deny: [test_error_handling]}
    policies:
      tool_filter: {tools: {deny: [ev_test_simple_text]}}
      rate_limits: [{name: per-tool, by: [tool], limit: 3, period: 1h, methods: [tools/call]}]
      pii: {}
      pinning: {enabled: true, trust_on_first_use: true, allow_findings: true}
state: {dir: %q}
`, ev.URL+everything.MCPPath, filepath.Join(binDir, "mcpfort-everything"), t.TempDir()))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	base, stopApp := start(t, cfg)
	var once sync.Once
	stop := func() { once.Do(stopApp) }
	defer stop()
	for _, version := range []string{"2025-11-25", ""} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		var opts *mcp.ClientSessionOptions
		if version != "" {
			opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
		}
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, opts)
		if err != nil {
			t.Fatalf("connect %q: %v", version, err)
		}
		var names []string
		for tl, err := range cs.Tools(ctx, nil) {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, tl.Name)
		}
		for _, want := range []string{"ev_echo", "st_echo", "st_test_simple_text", "ev_test_error_handling"} {
			if !slices.Contains(names, want) {
				t.Fatalf("%q: tools lack %s: %v", version, want, names)
			}
		}
		for _, hidden := range []string{"ev_test_simple_text", "st_test_error_handling"} {
			if slices.Contains(names, hidden) {
				t.Fatalf("%q: %s listed: %v", version, hidden, names)
			}
			if res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: hidden}); err == nil && !res.IsError {
				t.Fatalf("%q: %s called: %v", version, hidden, res.Content)
			}
		}
		// Schema checks read the merged list: a wrong type never reaches
		// the member.
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "st_echo", Arguments: map[string]any{"text": 5}})
		if err != nil || !res.IsError || !strings.Contains(fmt.Sprint(res.Content[0].(*mcp.TextContent).Text), "text") {
			t.Fatalf("%q: schema: %+v, %v", version, res, err)
		}
		// PII masking sees the members' results.
		res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "ev_echo", Arguments: map[string]any{"text": "mail alice@example.com"}})
		if err != nil {
			t.Fatal(err)
		}
		if txt := res.Content[0].(*mcp.TextContent).Text; strings.Contains(txt, "alice@example.com") || !strings.HasPrefix(txt, "mail ") {
			t.Fatalf("%q: PII not masked: %q", version, txt)
		}
		cs.Close()
		cancel()
	}
	// The rate limit keys on the merged name: st_test_simple_text has its
	// own bucket, used up after three calls, while ev_echo's (used twice)
	// is not.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for i := range 4 {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "st_test_simple_text"})
		limited := err != nil && (strings.Contains(err.Error(), "-31004") || strings.Contains(err.Error(), "Too Many Requests"))
		if i < 3 && (err != nil || res.IsError) || i == 3 && !limited {
			t.Fatalf("call %d: %v, %v", i, res, err)
		}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ev_echo", Arguments: map[string]any{"text": "other bucket"}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "other bucket" {
		t.Fatalf("ev_echo: %v, %v", res, err)
	}
	cs.Close()
	stop() // flushes the audit log
	// The audit log records the merged names, calls and refusals alike.
	out, err := exec.Command(filepath.Join(binDir, "mcpfort"), "audit", "export", "--config", p).CombinedOutput()
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	for _, want := range []string{`"ev_echo"`, `"st_test_simple_text"`, `"ev_test_simple_text"`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("audit export lacks %s:\n%s", want, out)
		}
	}
}

// TestVirtualServerScopes: a scope rule on one upstream's prefix
// (auth.tools {"st_*": [mcp:st]}) guards that upstream's tools only, in
// lists and calls, for clients of both eras.
func TestVirtualServerScopes(t *testing.T) {
	iss, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	port := freePort(t)
	bin := filepath.Join(binDir, "mcpfort-everything")
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}]
servers:
  - name: team
    path: /mcp
    aggregate:
      upstreams:
        - {name: ev, prefix: ev_, stdio: {command: [%q, -watch-interval=0]}}
        - {name: st, prefix: st_, stdio: {command: [%q, -watch-interval=0]}}
    auth:
      scopes: [mcp:tools]
      tools: {"st_*": [mcp:st]}
`, port, iss.URL, bin, bin))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	resource := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	sign := func(sub string, scopes ...string) string {
		tok, err := iss.Sign(resourceservertest.Token{Subject: sub, Audience: []string{resource}, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, version := range []string{"2025-11-25", ""} {
		for _, u := range []struct {
			token string
			st    bool
		}{{sign("alice", "mcp:tools"), false}, {sign("bob", "mcp:tools", "mcp:st"), true}} {
			cs, err := authedClient(t, resource, u.token, version)
			if err != nil {
				t.Fatal(err)
			}
			res, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range res.Tools {
				names = append(names, tl.Name)
			}
			if !slices.Contains(names, "ev_echo") || slices.Contains(names, "st_echo") != u.st {
				t.Fatalf("%q, st scope %v: tools %v", version, u.st, names)
			}
			r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "st_echo", Arguments: map[string]any{"text": "x"}})
			if ok := err == nil && !r.IsError; ok != u.st {
				t.Fatalf("%q, st scope %v: st_echo: %v, %v", version, u.st, r, err)
			}
			if r, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "ev_echo", Arguments: map[string]any{"text": "x"}}); err != nil || r.IsError {
				t.Fatalf("ev_echo: %v, %v", r, err)
			}
			cs.Close()
		}
	}
}
