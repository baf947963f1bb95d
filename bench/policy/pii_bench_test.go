package policybench

import (
	"context"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/pii"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

func newPII(b *testing.B) gateway.Middleware {
	p, err := pii.New(pii.Options{
		Detectors:   map[pii.Kind]pii.Rule{pii.Secret: {Arguments: pii.Block, Results: pii.Redact}},
		NationalIDs: []pii.NationalIDPattern{{Name: "us_ssn"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return p.Wrap
}

// personalResult is a tool result full of what the policy masks: the
// masking path, as opposed to the typical call that has nothing to mask.
func personalResult(h gateway.Handler) gateway.Handler {
	res := []byte(`{"content":[{"type":"text","text":"Customer Jane Roe <jane.roe@example.com>, +44 20 7946 0958, card 4111 1111 1111 1111, last login from 203.0.113.7"}],"structuredContent":{"email":"jane.roe@example.com","iban":"GB82 WEST 1234 5698 7654 32"}}`)
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Msg.Method == mcp.MethodToolsCall {
			return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, res)), nil
		}
		return h(ctx, c)
	}
}

// BenchmarkPII measures the PII policy on the typical tools/call (four
// arguments, a short text result: nothing to mask) and on a result full of
// personal data (six values masked in text and structured content).
func BenchmarkPII(b *testing.B) {
	list := toolsList(20)
	b.Run("typical", func(b *testing.B) {
		runCall(b, chain(terminal(list), newPII(b)), newCall(b, mcp.MethodToolsCall, callParams))
	})
	b.Run("masking", func(b *testing.B) {
		runCall(b, chain(personalResult(terminal(list)), newPII(b)), newCall(b, mcp.MethodToolsCall, callParams))
	})
}
