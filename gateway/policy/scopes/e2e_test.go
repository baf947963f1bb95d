package scopes_test

import (
	"strings"
	"testing"

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
