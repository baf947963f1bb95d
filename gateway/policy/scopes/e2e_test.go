package scopes_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/scopes"
)

// TestTargetMemberIsCaseSensitive sends calls whose target member is
// misspelled or not a string through a gateway in front of an upstream
// that reads member names case-insensitively: the scope rules must refuse
// them rather than match nothing and let them through.
func TestTargetMemberIsCaseSensitive(t *testing.T) {
	pol := scopes.New(scopes.Options{
		Tools:     []scopes.Rule{{Pattern: "delete_*", Scopes: []string{"mcp:admin"}}},
		Prompts:   []scopes.Rule{{Pattern: "secret_*", Scopes: []string{"mcp:admin"}}},
		Resources: []scopes.Rule{{Pattern: "test://private/*", Scopes: []string{"mcp:admin"}}},
	})
	up := policytest.NewNaive(t)
	gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{pol}})
	id := policytest.Identity("u", "app", "mcp:tools")
	sid := policytest.Initialize(t, gw.URL, id)
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"delete_user","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":{"x":1}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"NAME":"secret_prompt"}}`,
		`{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"Uri":"test://private/keys"}}`,
		`{"jsonrpc":"2.0","id":6,"method":"resources/subscribe","params":{"URI":"test://private/keys"}}`,
	} {
		_, _, b := policytest.Post(t, gw.URL, sid, id, body)
		if !strings.Contains(string(b), `"code":-32602`) {
			t.Errorf("%s\nanswered %s, want Invalid params", body, b)
		}
	}
	if got := up.Reached(); len(got) != 0 {
		t.Errorf("the upstream served %q", got)
	}
	if _, _, b := policytest.Post(t, gw.URL, sid, id, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo"}}`); !strings.Contains(string(b), "ran echo") {
		t.Errorf("echo: %s", b)
	}
}

// TestGroupsAndClaimsThroughGateway runs rules naming groups and claims
// in a real gateway, in every era: a caller outside the group, or without
// the claim value, cannot call the tool, get the prompt or read the
// resource (403, no scope challenge) and does not see them listed; a
// caller holding them can.
func TestGroupsAndClaimsThroughGateway(t *testing.T) {
	pol := scopes.New(scopes.Options{
		Tools: []scopes.Rule{
			{Pattern: "admin_*", Scopes: []string{"mcp:tools"}, Groups: []string{"admins", "ops"}},
			{Pattern: "get_weather", Claims: map[string][]string{"dept": {"eng", "sre"}, "tier": {"gold"}}},
		},
		Prompts:   []scopes.Rule{{Pattern: "secret_*", Groups: []string{"admins"}}},
		Resources: []scopes.Rule{{Pattern: "test://private/*", Groups: []string{"admins"}}},
		Methods:   map[string]scopes.Requirement{"resources/subscribe": {Groups: []string{"admins"}}},
	})
	ctx := context.Background()
	ident := func(sub string, groups string, claims string) http.Header {
		h := policytest.Identity(sub, "app", "mcp:tools")
		h.Set(policytest.HeaderGroups, groups)
		if claims != "" {
			h.Set(policytest.HeaderClaims, claims)
		}
		return h
	}
	for _, era := range policytest.Eras {
		t.Run(era.Name, func(t *testing.T) {
			up := policytest.NewUpstream(t, era.Stateless)
			gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{pol}})
			user := policytest.Connect(t, gw.URL, era, policytest.Client(ident("u", "users", `{"dept":["eng"]}`), nil))
			// "Admins" is not "admins"; "gold" is missing.
			near := policytest.Connect(t, gw.URL, era, policytest.Client(ident("n", "Admins admins-2", `{"dept":["eng"],"tier":["silver"]}`), nil))
			admin := policytest.Connect(t, gw.URL, era, policytest.Client(ident("a", "users ops admins", `{"dept":["sre"],"tier":["gold","x"]}`), nil))

			for _, tt := range []struct {
				cs   *mcp.ClientSession
				want []string
			}{
				{user, []string{"echo", "remote_ref", "search"}},
				{near, []string{"echo", "remote_ref", "search"}},
				{admin, []string{"admin_delete", "admin_list", "echo", "get_weather", "remote_ref", "search"}},
			} {
				got := policytest.ToolNames(t, tt.cs)
				slices.Sort(got)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("tools/list (-want +got):\n%s", diff)
				}
			}
			for _, tt := range []struct {
				cs     *mcp.ClientSession
				tool   string
				refuse bool
			}{
				{user, "echo", false}, {user, "admin_delete", true}, {user, "get_weather", true},
				{near, "admin_list", true}, {near, "get_weather", true},
				{admin, "admin_delete", false}, {admin, "get_weather", false},
			} {
				_, err := tt.cs.CallTool(ctx, &mcp.CallToolParams{Name: tt.tool, Arguments: map[string]any{"text": "x"}})
				if refused := err != nil && strings.Contains(err.Error(), "Forbidden"); refused != tt.refuse || (err != nil && !refused) {
					t.Errorf("call %s: %v, want refused %v", tt.tool, err, tt.refuse)
				}
			}
			if n := up.Calls("admin_delete"); n != 1 {
				t.Errorf("admin_delete ran %d times upstream, want once (the admin's call)", n)
			}
			if _, err := user.GetPrompt(ctx, &mcp.GetPromptParams{Name: "secret_prompt"}); err == nil {
				t.Error("prompts/get secret_prompt: not refused")
			}
			if _, err := admin.GetPrompt(ctx, &mcp.GetPromptParams{Name: "secret_prompt"}); err != nil {
				t.Errorf("admin prompts/get secret_prompt: %v", err)
			}
			if prompts, err := user.ListPrompts(ctx, nil); err != nil || len(prompts.Prompts) != 1 {
				t.Errorf("prompts/list = %+v, %v", prompts, err)
			}
			if _, err := user.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://private/keys"}); err == nil {
				t.Error("resources/read test://private/keys: not refused")
			}
			if res, err := user.ListResources(ctx, nil); err != nil || len(res.Resources) != 1 || res.Resources[0].URI != "test://public/readme" {
				t.Errorf("resources/list = %+v, %v", res, err)
			}
		})
	}
}

// TestGroupRefusalIsNotAScopeChallenge checks the HTTP answer of a group
// refusal: 403 without an insufficient_scope challenge (a group is not a
// scope), where a missing scope gets the challenge.
func TestGroupRefusalIsNotAScopeChallenge(t *testing.T) {
	pol := scopes.New(scopes.Options{
		Tools: []scopes.Rule{{Pattern: "delete_*", Groups: []string{"admins"}}, {Pattern: "echo", Scopes: []string{"mcp:echo"}}},
	})
	up := policytest.NewNaive(t)
	gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{pol}})
	id := policytest.Identity("u", "app", "mcp:tools")
	id.Set(policytest.HeaderGroups, "users")
	sid := policytest.Initialize(t, gw.URL, id)

	req, _ := http.NewRequest(http.MethodPost, gw.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_user"}}`))
	for k, v := range id {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Www-Authenticate") != "" || !strings.Contains(string(b), `"code":-31005`) || strings.Contains(string(b), "admins") {
		t.Errorf("group refusal: %d %q %s", resp.StatusCode, resp.Header.Get("Www-Authenticate"), b)
	}
	req2, _ := http.NewRequest(http.MethodPost, gw.URL, strings.NewReader(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}`))
	req2.Header = req.Header.Clone()
	resp, err = http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ch := resp.Header.Get("Www-Authenticate"); resp.StatusCode != http.StatusForbidden || !strings.Contains(ch, `error="insufficient_scope"`) || !strings.Contains(ch, "mcp:echo") {
		t.Errorf("scope refusal: %d %q", resp.StatusCode, ch)
	}
	if got := up.Reached(); len(got) != 0 {
		t.Errorf("the upstream served %q", got)
	}
}
