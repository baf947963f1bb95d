package schema_test

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/schema"
)

// TestThroughGateway runs the Validator in a real gateway in front of a
// go-sdk server, in every era: invalid arguments come back as an isError
// tool result naming the field, and the upstream never sees the call.
func TestThroughGateway(t *testing.T) {
	ctx := context.Background()
	for _, era := range policytest.Eras {
		t.Run(era.Name, func(t *testing.T) {
			v, err := schema.New(schema.Options{Constraints: []schema.ToolConstraints{
				{Tool: "echo", Args: []schema.Constraint{{Path: "/text", MaxLength: 10}}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			up := policytest.NewUpstream(t, era.Stateless)
			gw := policytest.NewGateway(t, up.URL, policytest.Options{Middleware: []gateway.Middleware{v.Wrap}})
			cs := policytest.Connect(t, gw.URL, era, policytest.Client(policytest.Identity("u", "app"), nil))

			// No tools/list first: the gateway lists the tools itself.
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"limit": 500, "mode": "slow"}})
			if err != nil {
				t.Fatal(err)
			}
			text := policytest.Text(res)
			if !res.IsError || !strings.Contains(text, "missing property 'query'") || !strings.Contains(text, "/limit: maximum: got 500, want 50") || !strings.Contains(text, "/mode:") {
				t.Fatalf("invalid search: isError %v, %q", res.IsError, text)
			}
			if n := up.Calls("search"); n != 0 {
				t.Fatalf("the upstream ran search %d times with invalid arguments", n)
			}
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "search", Arguments: map[string]any{"query": "cats", "filter": map[string]any{"field": "name"}}})
			if err != nil || res.IsError || !strings.HasPrefix(policytest.Text(res), "found: ") || up.Calls("search") != 1 {
				t.Fatalf("valid search: %v, %+v", err, res)
			}

			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "far too long for the rule"}})
			if err != nil || !res.IsError || !strings.Contains(policytest.Text(res), "/text: is longer than 10 characters") || up.Calls("echo") != 0 {
				t.Fatalf("operator constraint: %v, %+v", err, res)
			}
			if res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "short"}}); err != nil || res.IsError || policytest.Text(res) != "short" {
				t.Fatalf("valid echo: %v, %+v", err, res)
			}

			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "remote_ref", Arguments: map[string]any{"x": 1}}); err == nil || !strings.Contains(err.Error(), "never fetches") || up.Calls("remote_ref") != 0 {
				t.Fatalf("tool with a network $ref: %v", err)
			}
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool", Arguments: map[string]any{}}); err == nil || !strings.Contains(err.Error(), "Unknown tool") {
				t.Fatalf("unknown tool: %v", err)
			}
			// A client's own tools/list passes through unchanged.
			if names := policytest.ToolNames(t, cs); len(names) != 6 {
				t.Fatalf("tools/list: %v", names)
			}
			if st := v.Stats(); st.Invalid != 2 || st.Checked != 2 || st.Refused != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
