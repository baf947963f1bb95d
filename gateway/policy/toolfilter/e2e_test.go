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
