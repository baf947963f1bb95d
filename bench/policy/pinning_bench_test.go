package policybench

import (
	"path/filepath"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/pinning"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/storage/storagetest"
)

// newPinning trusts the first tool list (so that the benchmarked calls are
// allowed) and keeps its pins in SQLite, as the embedded default does.
func newPinning(b *testing.B) gateway.Middleware {
	s := pinning.NewSQLStore(storagetest.Open(b, "sqlite:"+filepath.Join(b.TempDir(), "mcpfort.db")))
	p, err := pinning.New(pinning.Options{Store: s, ServerOptions: pinning.ServerOptions{TrustOnFirstUse: true}})
	if err != nil {
		b.Fatal(err)
	}
	return p.Wrap
}

// BenchmarkPinning measures the pin check of a tools/call (the definition
// already learned) and the filtering of a 21-tool tools/list (each tool's
// definition canonicalised once, then looked up by the hash of its bytes).
func BenchmarkPinning(b *testing.B) {
	list := toolsList(20)
	b.Run("call", func(b *testing.B) {
		runCall(b, chain(terminal(list), newPinning(b)), newCall(b, mcp.MethodToolsCall, callParams))
	})
	b.Run("list", func(b *testing.B) {
		runCall(b, chain(terminal(list), newPinning(b)), newCall(b, mcp.MethodToolsList, `{}`))
	})
}

// BenchmarkCanonicalize measures RFC 8785 canonicalisation and hashing of
// one tool definition (done once per distinct definition, not per call).
func BenchmarkCanonicalize(b *testing.B) {
	tool := []byte(`{"name":"search","description":"searches","inputSchema":` + searchSchema + `}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pinning.Canonicalize(tool); err != nil {
			b.Fatal(err)
		}
	}
}
