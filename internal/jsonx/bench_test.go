package jsonx

import (
	"fmt"
	"strings"
	"testing"
)

// benchCall is a 2026-07-28 tools/call as a client sends it.
var benchCall = []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"search","arguments":{"query":"open issues about rate limits","limit":10,"mode":"fast","filter":{"field":"label","value":"bug"}},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`)

// benchList is a 21-tool tools/list response (about 6 KB).
var benchList = func() []byte {
	var tools []string
	for i := range 20 {
		tools = append(tools, fmt.Sprintf(`{"name":"tool_%02d","description":"does thing %d, and explains it at some length: \"quoted\" and naïve","inputSchema":{"type":"object","properties":{"x":{"type":"string","maxLength":64},"n":{"type":"integer","minimum":-1.5e3}},"required":["x"]}}`, i, i))
	}
	tools = append(tools, `{"name":"search","description":"searches","inputSchema":{"type":"object","properties":{"query":{"type":"string"}}}}`)
	return []byte(`{"jsonrpc":"2.0","id":42,"result":{"tools":[` + strings.Join(tools, ",") + `]}}`)
}()

// BenchmarkValidate is the chokepoint's validating scan of a whole
// message.
func BenchmarkValidate(b *testing.B) {
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"call", benchCall}, {"list", benchList}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Validate(bc.in, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNavigate is what list filtering does on a message the
// chokepoint has validated: find result.tools and each tool's name.
func BenchmarkNavigate(b *testing.B) {
	b.SetBytes(int64(len(benchList)))
	b.ReportAllocs()
	for b.Loop() {
		res, _ := Get(benchList, "result")
		tools, _ := Get(res, "tools")
		n := 0
		WalkArray(tools, func(e []byte) bool {
			if v, ok := Get(e, "name"); ok {
				if _, ok := String(v); ok {
					n++
				}
			}
			return true
		})
		if n != 21 {
			b.Fatal(n)
		}
	}
}
