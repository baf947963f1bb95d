package toolfilter_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/toolfilter"
)

// TestThroughGateway runs the filter in a real gateway in front of a
// go-sdk server, in every era, with and without a granting scope.
func TestThroughGateway(t *testing.T) {
	f, err := toolfilter.New(toolfilter.Options{
		Tools:     toolfilter.Rules{Deny: []string{"admin_delete"}},
		Prompts:   toolfilter.Rules{Deny: []string{"secret_*"}},
		Resources: toolfilter.Rules{Deny: []string{"test://private/*"}},
		Scopes:    map[string]toolfilter.Scoped{"admin": {Tools: toolfilter.Rules{Allow: []string{"admin_*"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, era := range policytest.Eras {
		t.Run(era.Name, func(t *testing.T) {
			up := policytest.NewUpstream(t, era.Stateless)
			gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{f.Wrap}})
			user := policytest.Connect(t, gw.URL, era, policytest.Client(policytest.Identity("u", "app", "mcp:tools"), nil))
			admin := policytest.Connect(t, gw.URL, era, policytest.Client(policytest.Identity("a", "app", "mcp:tools", "admin"), nil))

			for _, tt := range []struct {
				cs   *mcp.ClientSession
				want []string
			}{
				{user, []string{"echo", "get_weather", "remote_ref", "search"}},
				{admin, []string{"admin_list", "echo", "get_weather", "remote_ref", "search"}},
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
				{user, "echo", false}, {user, "admin_list", true}, {user, "admin_delete", true},
				{admin, "admin_list", false}, {admin, "admin_delete", true},
			} {
				_, err := tt.cs.CallTool(ctx, &mcp.CallToolParams{Name: tt.tool, Arguments: map[string]any{"text": "x"}})
				if refused := err != nil && strings.Contains(err.Error(), "Forbidden: tool"); refused != tt.refuse || (err != nil && !refused) {
					t.Errorf("call %s: %v, want refused %v", tt.tool, err, tt.refuse)
				}
			}
			if n := up.Calls("admin_delete"); n != 0 {
				t.Errorf("admin_delete ran %d times upstream", n)
			}

			prompts, err := user.ListPrompts(ctx, nil)
			if err != nil || len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != "greet" {
				t.Errorf("prompts/list = %+v, %v", prompts, err)
			}
			if _, err := user.GetPrompt(ctx, &mcp.GetPromptParams{Name: "secret_prompt"}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
				t.Errorf("prompts/get secret_prompt: %v", err)
			}
			if _, err := user.GetPrompt(ctx, &mcp.GetPromptParams{Name: "greet"}); err != nil {
				t.Errorf("prompts/get greet: %v", err)
			}

			res, err := user.ListResources(ctx, nil)
			if err != nil || len(res.Resources) != 1 || res.Resources[0].URI != "test://public/readme" {
				t.Errorf("resources/list = %+v, %v", res, err)
			}
			tmpl, err := user.ListResourceTemplates(ctx, nil)
			if err != nil || len(tmpl.ResourceTemplates) != 1 || tmpl.ResourceTemplates[0].URITemplate != "test://public/{name}" {
				t.Errorf("resources/templates/list = %+v, %v", tmpl, err)
			}
			if _, err := user.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://private/keys"}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
				t.Errorf("resources/read private: %v", err)
			}
			if _, err := user.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://private/other"}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
				t.Errorf("resources/read private through a template: %v", err)
			}
			if r, err := user.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://public/readme"}); err != nil || r.Contents[0].Text != "contents of test://public/readme" {
				t.Errorf("resources/read public: %v, %v", r, err)
			}
		})
	}
}

// TestTargetMemberIsCaseSensitive sends calls whose target member is
// spelled "Name" or "URI", or is not a string, through a gateway in front
// of an upstream that reads member names case-insensitively: the filter
// must refuse them, not match its rules against an empty name and pass
// them on.
func TestTargetMemberIsCaseSensitive(t *testing.T) {
	f, err := toolfilter.New(toolfilter.Options{
		Tools:     toolfilter.Rules{Deny: []string{"delete_*"}},
		Prompts:   toolfilter.Rules{Deny: []string{"secret_*"}},
		Resources: toolfilter.Rules{Deny: []string{"test://private/*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	up := policytest.NewNaive(t)
	gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{f.Wrap}})
	id := policytest.Identity("u", "app", "mcp:tools")
	sid := policytest.Initialize(t, gw.URL, id)
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"delete_user","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"NAME":"delete_user"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":["delete_user"]}}`,
		`{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"Name":"secret_prompt"}}`,
		`{"jsonrpc":"2.0","id":6,"method":"resources/read","params":{"Uri":"test://private/keys"}}`,
		`{"jsonrpc":"2.0","id":7,"method":"resources/read","params":{"uri":null}}`,
	} {
		_, _, b := policytest.Post(t, gw.URL, sid, id, body)
		if !strings.Contains(string(b), `"code":-32602`) {
			t.Errorf("%s\nanswered %s, want Invalid params", body, b)
		}
	}
	if got := up.Reached(); len(got) != 0 {
		t.Errorf("the upstream served %q", got)
	}
	// A well-formed call still works.
	if _, _, b := policytest.Post(t, gw.URL, sid, id, `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo"}}`); !strings.Contains(string(b), "ran echo") {
		t.Errorf("echo: %s", b)
	}
}
