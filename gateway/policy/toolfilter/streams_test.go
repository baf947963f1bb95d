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
