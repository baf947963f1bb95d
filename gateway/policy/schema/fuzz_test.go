package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// FuzzCompileSchema feeds arbitrary inputSchemas (they come from the
// upstream) to the compiler: it must never panic, never fetch, and end
// quickly, and a schema it accepts must validate arbitrary values safely.
func FuzzCompileSchema(f *testing.F) {
	for _, s := range []string{
		`{}`, searchSchema, anyOfChain(12),
		`{"$ref":"https://example.com/x"}`,
		`{"$defs":{"a":{"$dynamicAnchor":"m","items":{"$dynamicRef":"#m"}}},"$ref":"#/$defs/a"}`,
		`{"$schema":"http://json-schema.org/draft-04/schema#","items":[{"type":"string"}],"additionalItems":false}`,
		`{"properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}`,
		`{"patternProperties":{"^x":{"$ref":"#"}},"unevaluatedProperties":{"$ref":"#"}}`,
		`{"prefixItems":[{"$ref":"#"}],"contains":{"$ref":"#"},"unevaluatedItems":false}`,
	} {
		f.Add([]byte(s))
	}
	values := []string{`{}`, `{"a":[1,"x",{"b":null}]}`, `[[[[1]]]]`, `"s"`, `1e300`}
	f.Fuzz(func(t *testing.T, raw []byte) {
		start := time.Now()
		sch, err := compileSchema(raw, testLimits)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("compiling took %v: %q", d, raw)
		}
		if err != nil {
			return
		}
		v, _ := New(Options{})
		for _, s := range values {
			val, err := decodeArgs([]byte(s), defaultDepth, defaultValues)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			v.validate(sch, val)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("validating %s took %v against %q", s, d, raw)
			}
		}
	})
}

// FuzzConstraint feeds arbitrary operator constraint specs and arguments
// to the constraint compiler and checker: errors are fine, panics are not.
func FuzzConstraint(f *testing.F) {
	f.Add("/a/*/b", "^x", `\.\./`, `{"a":[{"b":"x"},{"b":"../"}]}`, 3, true)
	f.Add("/a~1b/~0", "", "", `{"a/b":{"~":1}}`, 0, false)
	f.Add("/0/01/-", "(", "", `[]`, -1, false)
	f.Fuzz(func(t *testing.T, path, pattern, deny, args string, n int, required bool) {
		c, err := compileConstraint(Constraint{Path: path, Pattern: pattern, DenyPattern: deny, MaxLength: n, MaxItems: n, Required: required, Enum: []any{"x", 1.5}, Deny: []any{nil}})
		if err != nil {
			return
		}
		val, err := decodeArgs([]byte(args), defaultDepth, defaultValues)
		if err != nil {
			return
		}
		for _, v := range c.check(val, nil) {
			if !strings.HasPrefix(v.at, "/") || v.msg == "" {
				t.Fatalf("violation %+v", v)
			}
		}
	})
}

// FuzzArguments feeds arbitrary arguments through decoding and a full
// check against a schema with constraints.
func FuzzArguments(f *testing.F) {
	for _, s := range []string{`{"query":"x","limit":3}`, `{"query":1e999}`, `{"filter":{"field":"a","value":"b"}}`, `[`, `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`} {
		f.Add([]byte(s))
	}
	sch, err := compileSchema([]byte(searchSchema), testLimits)
	if err != nil {
		f.Fatal(err)
	}
	v, _ := New(Options{Constraints: []ToolConstraints{{Tool: "*", Args: []Constraint{{Path: "/query", MaxLength: 3, Pattern: "^[a-z]*$"}, {Path: "/*", Deny: []any{"x"}}}}}})
	f.Fuzz(func(t *testing.T, raw []byte) {
		val, err := decodeArgs(raw, defaultDepth, defaultValues)
		if err != nil {
			return
		}
		bad := v.validate(sch, val)
		for _, c := range v.rules[0].args {
			bad = c.check(val, bad)
		}
		_ = bad
	})
}

// FuzzDecodeArgs checks the direct decoder against encoding/json on every
// input the gateway's chokepoint accepts: the same values, or a limit
// error; and never a panic on anything.
func FuzzDecodeArgs(f *testing.F) {
	for _, s := range []string{`{"a":[1,-2.5e3,"x\u00e9\ud83d\ude00",true,false,null,{}]}`, `"\"\\\/\b\f\n\r\t"`, `-0`, `0.0e+1`, `[1e1001]`, `{"a":1,"a":2}`, ` [ ] `, `01`, `1.`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeArgs(raw, 64, defaultValues)
		if jsonx.Validate(raw, 64) != nil {
			return // the gateway never hands such bytes to the policy
		}
		var ea *errArgs
		if err != nil && errors.As(err, &ea) && ea != errSyntax {
			return // a limit
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var want any
		if dec.Decode(&want) != nil {
			t.Skip()
		}
		if err != nil {
			t.Fatalf("decodeArgs(%q) = %v; encoding/json decodes it", raw, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeArgs(%q) = %#v, encoding/json %#v", raw, got, want)
		}
	})
}
