package jcs

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// FuzzCanonicalize checks, for any input, that Canonicalize never panics,
// that what it accepts is valid JSON meaning the same as the input, and
// that its output is a fixed point.
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[true,null,"x"]}`, `"\ud83d\ude00"`, `1e30`, `-0`, `{"\u20ac":1,"\r":2}`,
		`[333333333.33333329, 4.50, 2e-3]`, `"\u0000"`, `{}`, `[[[]]]`, `"\ud800"`, `{"a":1,"a":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonicalize(in)
		d := jsonx.NewDecoder(in, jsonx.Options{MaxDepth: MaxDepth, IJSON: true})
		valid := true
		for {
			k, err := d.Next()
			if err != nil {
				valid = false
			}
			if err != nil || k == jsonx.KindEnd {
				break
			}
		}
		if err != nil {
			if valid && !errors.Is(err, ErrNumber) {
				t.Fatalf("refused I-JSON %q: %v", in, err)
			}
			return
		}
		if !valid {
			t.Fatalf("accepted %q, which the chokepoint refuses in I-JSON mode", in)
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON out: %q", out)
		}
		again, err := Canonicalize(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point: %q -> %q (%v)", out, again, err)
		}
		var a, b any
		if json.Unmarshal(in, &a) != nil {
			t.Fatalf("accepted input encoding/json rejects: %q", in)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(a, b) { // floats by ==, so -0 equals 0
			t.Fatalf("meaning changed: %q -> %q", in, out)
		}
	})
}
