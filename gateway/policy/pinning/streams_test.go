package pinning_test

import (
	"os"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/policytest"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
)

func TestMain(m *testing.M) {
	policytest.ServeStreamServerIfAsked()
	os.Exit(m.Run())
}

// TestStreamsToolChange performs a rug pull while the client holds a GET
// or subscriptions/listen stream, for both upstream kinds: the server
// changes an approved tool's definition and says so with
// notifications/tools/list_changed on the stream. The next call of the
// tool must be refused and the next list must hide it, well within the
// policy's refresh interval.
func TestStreamsToolChange(t *testing.T) {
	for _, sc := range policytest.StreamCases {
		t.Run(sc.String(), func(t *testing.T) {
			p, err := pinning.New(pinning.Options{ServerOptions: pinning.ServerOptions{TrustOnFirstUse: true}})
			if err != nil {
				t.Fatal(err)
			}
			opts := policytest.Options{Middleware: []gateway.Middleware{p.Wrap}}
			policytest.TestToolChangeOnStream(t, sc, opts, policytest.Identity("alice", "app"))
		})
	}
}

// TestResumedListIsFiltered performs the attack of a client that drops a
// tools/list's stream at its first event and resumes it with GET and
// Last-Event-ID, so that the answer comes back on a stream whose call is
// not a tools/list: no tool is approved, so none may be listed.
func TestResumedListIsFiltered(t *testing.T) {
	for _, kind := range []policytest.StreamKind{policytest.HTTP, policytest.Stdio} {
		t.Run(string(kind), func(t *testing.T) {
			p, err := pinning.New(pinning.Options{})
			if err != nil {
				t.Fatal(err)
			}
			policytest.TestResumedList(t, kind, policytest.Options{Middleware: []gateway.Middleware{p.Wrap}}, policytest.Identity("alice", "app"), "echo")
		})
	}
}
