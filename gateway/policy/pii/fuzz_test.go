package pii

import (
	"encoding/json"
	"testing"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

func fuzzPolicy(t testing.TB) *Policy {
	p := allPresets(t)
	return p
}

// FuzzScan checks that detectors never panic and report ordered,
// non-overlapping spans inside the input, and that masking such input
// keeps it valid UTF-8 when it was.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		"mail bob@example.com", "4111 1111 1111 1111", "GB82 WEST 1234 5698 7654 32", "+44 20 7946 0958",
		"2001:db8::1", "10.0.0.1", "ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "-----BEGIN PRIVATE KEY-----",
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig", "536-22-1234", "(555) 123-4567", "x@y", "::", "+",
		"a@b.co@c.de", "postgres://u:p@h", "Bearer " + "a1234567890123456789012",
	} {
		f.Add(s)
	}
	p := fuzzPolicy(f)
	f.Fuzz(func(t *testing.T, s string) {
		fs := p.Scan(s)
		last := 0
		for _, fd := range fs {
			if fd.Start < last || fd.End <= fd.Start || fd.End > len(s) {
				t.Fatalf("bad span %+v in %q (previous end %d)", fd, s, last)
			}
			last = fd.End
		}
		for d := Direction(0); d < numDirections; d++ {
			p.Text(d, s)
		}
	})
}

// FuzzJSON checks that the JSON rewriter never panics, that what it
// accepts and rewrites is still valid JSON, and that rewriting member
// names never makes two of them equal (readers refuse duplicate keys).
func FuzzJSON(f *testing.F) {
	for _, s := range []string{
		`{"content":[{"type":"text","text":"bob@example.com"}]}`, `["4111111111111111",1,null]`, `"x\u0040example.com"`,
		`{"_meta":{"a":"b@example.com"}}`, `{"data":"AAAA"}`, `{"a":`, `[[[[]]]]`, `"\ud800"`,
		`{"ann@example.com":1,"a***@example.com":2,"a\u006en@example.com":3}`,
		`{"structuredContent":{"_meta":{"x":"ann@example.com"},"ann@example.com":{"_meta":1}}}`,
		`{"data":"\u0061\u006e\u006e\u0040\u0065\u0078\u0061\u006d\u0070\u006c\u0065\u002e\u0063\u006f\u006d\u0020\u0020"}`,
		`{"blob":"QUtJQUlPU0ZPRE5ON0VYQU1QTEUQUtJQUlPU0ZPRE5ON0VYQ/4111111111111111/QUtJQUlPU0ZPRE5ON0VYQU1QTEU="}`,
	} {
		f.Add([]byte(s))
	}
	p := fuzzPolicy(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		out, _, err := p.JSON(Results, in)
		if err != nil {
			return
		}
		if err := jsonx.Validate(in, maxWalkDepth); err != nil {
			t.Fatalf("accepted %q, which the chokepoint refuses: %v", in, err)
		}
		if !json.Valid(in) {
			t.Fatalf("accepted invalid JSON %q", in)
		}
		if !json.Valid(out) {
			t.Fatalf("valid %q became invalid %q", in, out)
		}
		if jsonx.Validate(in, maxWalkDepth+1) == nil {
			if err := jsonx.Validate(out, maxWalkDepth+1); err != nil {
				t.Fatalf("%q became %q: %v", in, out, err)
			}
		}
	})
}
