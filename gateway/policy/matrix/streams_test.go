package matrix_test

import (
	"fmt"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/pii"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/gateway/policy/scopes"
	"github.com/mcpfort/mcpfort/gateway/policy/toolfilter"
)

// streamCells are the cells of the stream rows: every upstream kind and
// client era, the upstream speaking the client's era or the other one. A
// legacy client's stream is its session's GET stream; a 2026-07-28
// client's is a subscriptions/listen (bridged: the listen is fed by the
// upstream session's GET stream, and a legacy client's GET stream by an
// upstream listen).
var streamCells = func() []policytest.StreamCase {
	var cs []policytest.StreamCase
	for _, kind := range []policytest.StreamKind{policytest.HTTP, policytest.Stdio} {
		for _, legacy := range []bool{true, false} {
			for _, bridged := range []bool{false, true} {
				cs = append(cs, policytest.StreamCase{Kind: kind, Legacy: legacy, Bridged: bridged})
			}
		}
	}
	return cs
}()

func streamCellName(sc policytest.StreamCase) string {
	return fmt.Sprintf("%s/client-%s/upstream-%s", sc.Kind, era(sc.Legacy), era(sc.Legacy != sc.Bridged))
}

// streamPolicies are the rows for the policies that act on what a server
// sends on its own: the access policies on notifications/resources/updated
// and notifications/tools/list_changed, and PII masking on notifications.
var streamPolicies = []struct {
	name string
	run  func(t *testing.T, sc policytest.StreamCase)
}{
	{"scopes/resources-updated", func(t *testing.T, sc policytest.StreamCase) {
		pol := scopes.New(scopes.Options{Resources: []scopes.Rule{{Pattern: "test://private/*", Scopes: []string{"mcp:secrets"}}}})
		policytest.TestHiddenResourceUpdates(t, sc, policytest.Options{Middleware: []gateway.Middleware{pol}},
			policytest.Identity("alice", "app", "mcp:read", "mcp:secrets"), policytest.Identity("alice", "app", "mcp:read"))
	}},
	{"toolfilter/resources-updated", func(t *testing.T, sc policytest.StreamCase) {
		f, err := toolfilter.New(toolfilter.Options{Scopes: map[string]toolfilter.Scoped{
			"mcp:secrets": {Resources: toolfilter.Rules{Allow: []string{"test://private/*"}}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		policytest.TestHiddenResourceUpdates(t, sc, policytest.Options{Middleware: []gateway.Middleware{f.Wrap}},
			policytest.Identity("alice", "app", "mcp:read", "mcp:secrets"), policytest.Identity("alice", "app", "mcp:read"))
	}},
	{"pinning/list-changed", func(t *testing.T, sc policytest.StreamCase) {
		p, err := pinning.New(pinning.Options{ServerOptions: pinning.ServerOptions{TrustOnFirstUse: true}})
		if err != nil {
			t.Fatal(err)
		}
		policytest.TestToolChangeOnStream(t, sc, policytest.Options{Middleware: []gateway.Middleware{p.Wrap}}, alice)
	}},
	{"pii/resources-updated", func(t *testing.T, sc policytest.StreamCase) {
		p, err := pii.New(pii.Options{})
		if err != nil {
			t.Fatal(err)
		}
		policytest.TestMaskedStreamNotification(t, sc, policytest.Options{Middleware: []gateway.Middleware{p.Wrap}}, alice)
	}},
}

// TestMatrixStreams runs the stream rows in every stream cell.
func TestMatrixStreams(t *testing.T) {
	for _, p := range streamPolicies {
		t.Run(p.name, func(t *testing.T) {
			for _, sc := range streamCells {
				t.Run(streamCellName(sc), func(t *testing.T) {
					t.Parallel()
					p.run(t, sc)
				})
			}
		})
	}
}
