package scopes_test

import (
	"net/http"
	"os"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/scopes"
)

func TestMain(m *testing.M) {
	policytest.ServeStreamServerIfAsked()
	os.Exit(m.Run())
}

// TestStreamsHideResourceUpdates performs the attack of a caller who may
// not read a resource and still learns of its updates on its GET or
// subscriptions/listen stream, for both upstream kinds, under a
// per-resource scope rule and a per-resource group rule.
func TestStreamsHideResourceUpdates(t *testing.T) {
	withGroup := policytest.Identity("alice", "app", "mcp:read")
	withGroup.Set(policytest.HeaderGroups, "admins")
	for _, rule := range []struct {
		name            string
		rule            scopes.Rule
		allowed, lesser http.Header
	}{
		{"scope", scopes.Rule{Pattern: "test://private/*", Scopes: []string{"mcp:secrets"}},
			policytest.Identity("alice", "app", "mcp:read", "mcp:secrets"), policytest.Identity("alice", "app", "mcp:read")},
		{"group", scopes.Rule{Pattern: "test://private/*", Groups: []string{"admins"}},
			withGroup, policytest.Identity("alice", "app", "mcp:read")},
	} {
		opts := policytest.Options{Middleware: []gateway.Middleware{scopes.New(scopes.Options{Resources: []scopes.Rule{rule.rule}})}}
		for _, sc := range policytest.StreamCases {
			t.Run(rule.name+"/"+sc.String(), func(t *testing.T) {
				policytest.TestHiddenResourceUpdates(t, sc, opts, rule.allowed, rule.lesser)
			})
		}
	}
}

// TestResumedListIsFiltered performs the attack of a client that drops a
// tools/list's stream at its first event and resumes it with GET and
// Last-Event-ID, so that the answer comes back on a stream whose call is
// not a tools/list.
func TestResumedListIsFiltered(t *testing.T) {
	pol := scopes.New(scopes.Options{Tools: []scopes.Rule{{Pattern: "poke", Scopes: []string{"mcp:admin"}}}})
	for _, kind := range []policytest.StreamKind{policytest.HTTP, policytest.Stdio} {
		t.Run(string(kind), func(t *testing.T) {
			policytest.TestResumedList(t, kind, policytest.Options{Middleware: []gateway.Middleware{pol}}, policytest.Identity("alice", "app", "mcp:read"), "poke", "echo")
		})
	}
}
