package schema

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var testLimits = compileLimits{maxBytes: 256 << 10, maxDepth: defaultDepth, maxCost: 2000}

// anyOfChain builds n definitions, each an anyOf of two references to the
// next: 2^n evaluations for one value if validated naively.
func anyOfChain(n int) string {
	var b strings.Builder
	b.WriteString(`{"$ref":"#/$defs/d0","$defs":{`)
	for i := range n {
		fmt.Fprintf(&b, `"d%d":{"anyOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d"}]},`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"d%d":false}}`, n)
	return b.String()
}

func TestCompile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret.json")
	os.WriteFile(secret, []byte(`{"type":"string"}`), 0o600)
	tests := []struct {
		name   string
		schema string
		want   error // nil: compiles; errAny: any error
	}{
		{"empty object", `{}`, nil},
		{"no parameters", `{"type":"object","additionalProperties":false}`, nil},
		{"2020-12 with $defs and local $ref", `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","$defs":{"a":{"type":"string"}},"properties":{"x":{"$ref":"#/$defs/a"}}}`, nil},
		{"draft-07", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","definitions":{"a":{"type":"integer"}},"properties":{"n":{"$ref":"#/definitions/a"}}}`, nil},
		{"anchors", `{"$defs":{"a":{"$anchor":"name","type":"string"}},"properties":{"x":{"$ref":"#name"}}}`, nil},
		{"embedded $id resource", `{"$defs":{"a":{"$id":"https://example.com/a.json","type":"string"}},"properties":{"x":{"$ref":"https://example.com/a.json"}}}`, nil},
		{"legit recursion (a tree)", `{"$defs":{"node":{"type":"object","properties":{"value":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},"$ref":"#/$defs/node"}`, nil},
		{"the 2020-12 metaschema itself", `{"type":"object","properties":{"schema":{"$ref":"https://json-schema.org/draft/2020-12/schema"}}}`, nil},
		{"network $ref", `{"properties":{"x":{"$ref":"https://example.com/schemas/x.json"}}}`, errExternalRef},
		{"relative $ref resolved against the base", `{"properties":{"x":{"$ref":"other.json"}}}`, errExternalRef},
		{"file $ref is never read", `{"properties":{"x":{"$ref":"file://` + secret + `"}}}`, errExternalRef},
		{"$id moves the base, still external", `{"$id":"https://example.com/root.json","properties":{"x":{"$ref":"x.json"}}}`, errExternalRef},
		{"unknown dialect", `{"$schema":"https://example.com/my-dialect","type":"object"}`, errAny},
		{"invalid keyword value", `{"type":"object","properties":{"x":{"type":"strung"}}}`, errAny},
		{"not an object", `true`, errNotAnObject},
		{"null", `null`, errNotAnObject},
		{"too large", `{"description":"` + strings.Repeat("x", 300<<10) + `"}`, errTooLarge},
		{"exponential anyOf chain", anyOfChain(30), errTooComplex},
		{"short anyOf chain is fine", anyOfChain(6), nil},
		{"fan-out recursion", `{"properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}`, errTooComplex},
		{"in-place reference cycle", `{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := compileSchema([]byte(tt.schema), testLimits)
			// A guard against exponential blow-up, not a speed test
			// (benchmarks measure speed): generous for a loaded machine.
			if time.Since(start) > 20*time.Second {
				t.Errorf("compiling took %v", time.Since(start))
			}
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("err = %v", err)
			case tt.want == errAny && err == nil, tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error names a local file: %v", err)
			}
		})
	}
}

var errAny = errors.New("any error")
