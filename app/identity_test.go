package app_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// TestSameSubjectAtTwoIssuers: two trusted issuers both have a user
// "alice". Neither may use the other's session, per_user stdio process or
// rate-limit bucket; and a session belongs to the client that opened it,
// not to every client of the same user.
func TestSameSubjectAtTwoIssuers(t *testing.T) {
	idpA, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idpA.Close()
	idpB, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer idpB.Close()
	port := freePort(t)
	resource := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}, {issuer: %q}]
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q], isolation: per_user}
    policies:
      rate_limits: [{name: per-user, by: [subject], limit: 2, period: 1h, methods: [tools/call]}]
`, port, idpA.URL, idpB.URL, filepath.Join(binDir, "mcpfort-everything")))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	sign := func(iss *resourceservertest.Issuer, client string) string {
		tok, err := iss.Sign(resourceservertest.Token{Subject: "alice", ClientID: client, Audience: []string{resource}, Scopes: []string{"mcp:tools"}})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	aliceA, aliceA2, aliceB := sign(idpA, "app"), sign(idpA, "other-app"), sign(idpB, "app")

	t.Run("session", func(t *testing.T) {
		resp := rawPost(t, resource, aliceA, initBody, nil)
		sid := resp.Header.Get("Mcp-Session-Id")
		resp.Body.Close()
		if sid == "" {
			t.Fatalf("initialize: %d", resp.StatusCode)
		}
		list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
		for name, tt := range map[string]struct {
			token string
			want  int
		}{
			"same sub, other issuer":       {aliceB, 404},
			"same user, other client":      {aliceA2, 404},
			"the principal that opened it": {aliceA, 200},
		} {
			resp := rawPost(t, resource, tt.token, list, map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"})
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("%s: %d, want %d", name, resp.StatusCode, tt.want)
			}
		}
	})

	ctx := context.Background()
	connect := func(tok string) *mcp.ClientSession {
		cs, err := authedClient(t, resource, tok, "2025-11-25")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	toolNames := func(cs *mcp.ClientSession) []string {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range res.Tools {
			names = append(names, tool.Name)
		}
		return names
	}
	a, a2, b := connect(aliceA), connect(aliceA2), connect(aliceB)

	t.Run("per_user process", func(t *testing.T) {
		// A tool added in A's alice's process shows for her other client
		// (one process per user) and not for B's alice.
		if _, err := a.CallTool(ctx, &mcp.CallToolParams{Name: "test_trigger_tool_change"}); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(toolNames(a2), "test_transient_tool") {
			t.Fatal("the tool change is not visible to the same user: the test cannot tell processes apart")
		}
		if slices.Contains(toolNames(b), "test_transient_tool") {
			t.Error("B's alice shares A's alice's process")
		}
	})

	t.Run("rate-limit bucket", func(t *testing.T) {
		// A's alice has made one call; one more is allowed, then none.
		echo := func(cs *mcp.ClientSession) error {
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
			return err
		}
		if err := echo(a); err != nil {
			t.Fatal(err)
		}
		if err := echo(a2); err == nil || !strings.Contains(err.Error(), "Too Many Requests") {
			t.Fatalf("third call of A's alice: %v, want rate limited", err)
		}
		for i := range 2 {
			if err := echo(b); err != nil {
				t.Errorf("call %d of B's alice: %v (A's alice's bucket?)", i, err)
			}
		}
	})
}
