package toolfilter_test

import (
	"os"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/toolfilter"
)

func TestMain(m *testing.M) {
	policytest.ServeStreamServerIfAsked()
	os.Exit(m.Run())
}

// TestStreamsHideResourceUpdates performs the attack of a caller who may
// not see a resource and still learns of its updates on its GET or
// subscriptions/listen stream, for both upstream kinds: the resource rules
// reserve test://private/* to holders of scope "secrets".
func TestStreamsHideResourceUpdates(t *testing.T) {
	f, err := toolfilter.New(toolfilter.Options{Scopes: map[string]toolfilter.Scoped{
		"secrets": {Resources: toolfilter.Rules{Allow: []string{"test://private/*"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	opts := policytest.Options{Middleware: []gateway.Middleware{f.Wrap}}
	for _, sc := range policytest.StreamCases {
		t.Run(sc.String(), func(t *testing.T) {
			policytest.TestHiddenResourceUpdates(t, sc, opts,
				policytest.Identity("alice", "app", "secrets"), policytest.Identity("alice", "app"))
		})
	}
}

// TestResumedListIsFiltered performs the attack of a client that drops a
// tools/list's stream at its first event and resumes it with GET and
// Last-Event-ID, so that the answer comes back on a stream whose call is
// not a tools/list.
func TestResumedListIsFiltered(t *testing.T) {
	f, err := toolfilter.New(toolfilter.Options{Tools: toolfilter.Rules{Deny: []string{"poke"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []policytest.StreamKind{policytest.HTTP, policytest.Stdio} {
		t.Run(string(kind), func(t *testing.T) {
			policytest.TestResumedList(t, kind, policytest.Options{Middleware: []gateway.Middleware{f.Wrap}}, policytest.Identity("alice", "app"), "poke", "echo")
		})
	}
}
