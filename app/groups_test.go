package app_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// TestGroupAndClaimRules runs mcpfort trusting two external issuers, one
// with its groups in "groups", one (Keycloak style) in
// "realm_access.roles", with tool rules naming groups and claims and a
// route restricted to a group. Callers outside the group, or with the
// group under a claim the issuer is not configured for, are refused and
// do not see the tools listed; members are served.
func TestGroupAndClaimRules(t *testing.T) {
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
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	everything := filepath.Join(binDir, "mcpfort-everything")
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}, {issuer: %q, groups_claim: realm_access.roles}]
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
    auth:
      scopes: [mcp:tools]
      tools:
        test_simple_text: {groups: [admins]}
        "test_image_*": {scopes: [mcp:tools], claims: {dept: [eng]}}
      prompts:
        test_simple_prompt: {groups: [admins]}
  - name: staff
    path: /staff/mcp
    stdio: {command: [%q]}
    auth: {groups: [staff]}
`, port, idpA.URL, idpB.URL, everything, everything))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	resource, staff := base+"/mcp", base+"/staff/mcp"
	sign := func(iss *resourceservertest.Issuer, sub, aud string, claims map[string]any) string {
		tok, err := iss.Sign(resourceservertest.Token{Subject: sub, Audience: []string{aud}, Scopes: []string{"mcp:tools"}, Claims: claims})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	type caller struct {
		name      string
		token     string
		text, img bool // may call test_simple_text, test_image_content
		prompt    bool
	}
	callers := []caller{
		{name: "no groups", token: sign(idpA, "u1", resource, nil)},
		{name: "other groups, wrong dept", token: sign(idpA, "u2", resource, map[string]any{"groups": []string{"users", "Admins"}, "dept": "sales"})},
		{name: "admin in eng", token: sign(idpA, "u3", resource, map[string]any{"groups": []string{"users", "admins"}, "dept": []string{"ops", "eng"}}), text: true, img: true, prompt: true},
		{name: "group as a string", token: sign(idpA, "u4", resource, map[string]any{"groups": "admins"}), text: true, prompt: true},
		{name: "keycloak realm role", token: sign(idpB, "u5", resource, map[string]any{"realm_access": map[string]any{"roles": []string{"admins"}}}), text: true, prompt: true},
		// idpB's groups are its realm roles: a top-level "groups" claim
		// from it proves nothing.
		{name: "keycloak, groups claim ignored", token: sign(idpB, "u6", resource, map[string]any{"groups": []string{"admins"}})},
	}
	ctx := context.Background()
	for _, c := range callers {
		for _, version := range []string{"2025-11-25", ""} {
			t.Run(c.name+"/"+version, func(t *testing.T) {
				cs, err := authedClient(t, resource, c.token, version)
				if err != nil {
					t.Fatal(err)
				}
				defer cs.Close()
				tools, err := cs.ListTools(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, tool := range tools.Tools {
					names = append(names, tool.Name)
				}
				if got := slices.Contains(names, "test_simple_text"); got != c.text {
					t.Errorf("test_simple_text listed: %v, want %v", got, c.text)
				}
				if got := slices.Contains(names, "test_image_content"); got != c.img {
					t.Errorf("test_image_content listed: %v, want %v", got, c.img)
				}
				if !slices.Contains(names, "echo") {
					t.Error("echo not listed")
				}
				for tool, may := range map[string]bool{"test_simple_text": c.text, "test_image_content": c.img} {
					_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool})
					if (err == nil) != may {
						t.Errorf("call %s: %v, want allowed %v", tool, err, may)
					}
				}
				_, err = cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "test_simple_prompt"})
				if (err == nil) != c.prompt {
					t.Errorf("prompts/get: %v, want allowed %v", err, c.prompt)
				}
			})
		}
	}

	t.Run("a group refusal is a plain 403", func(t *testing.T) {
		tok := callers[0].token
		resp := rawPost(t, resource, tok, initBody, nil)
		sid := resp.Header.Get("Mcp-Session-Id")
		resp.Body.Close()
		resp = rawPost(t, resource, tok, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}}`,
			map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("WWW-Authenticate") != "" || !strings.Contains(string(b), "Forbidden") || strings.Contains(string(b), "admins") {
			t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), b)
		}
	})

	t.Run("route restricted to a group", func(t *testing.T) {
		for _, tt := range []struct {
			claims map[string]any
			want   int
		}{
			{nil, 403},
			{map[string]any{"groups": []string{"admins", "staff-2"}}, 403},
			{map[string]any{"groups": []string{"staff"}}, 200},
		} {
			resp := rawPost(t, staff, sign(idpA, "s", staff, tt.claims), initBody, nil)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("groups %v: %d %s, want %d", tt.claims, resp.StatusCode, b, tt.want)
			}
			if tt.want == 403 && (resp.Header.Get("WWW-Authenticate") != "" || !strings.Contains(string(b), "Forbidden")) {
				t.Errorf("groups %v: %q %s", tt.claims, resp.Header.Get("WWW-Authenticate"), b)
			}
		}
	})
}
