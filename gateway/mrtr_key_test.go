package gateway

import (
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// TestNameInputs: a legacy upstream's input requests are named by their
// InputKeyMeta when it is usable and unique in the round; every other one,
// hostile or absent, gets input-N, never a name already taken.
func TestNameInputs(t *testing.T) {
	named := func(k string) []byte {
		return []byte(`{"message":"m","_meta":{"` + InputKeyMeta + `":` + string(jsonx.Quote(k)) + `}}`)
	}
	cases := []struct {
		name   string
		params [][]byte
		want   []string
	}{
		{"absent", [][]byte{nil, []byte(`{"message":"m"}`)}, []string{"input-1", "input-2"}},
		{"named", [][]byte{named("user_name"), named("city")}, []string{"user_name", "city"}},
		{"duplicate", [][]byte{named("user_name"), named("user_name")}, []string{"user_name", "input-1"}},
		{"takes a fallback's name", [][]byte{nil, named("input-1")}, []string{"input-2", "input-1"}},
		{"empty", [][]byte{named("")}, []string{"input-1"}},
		{"too long", [][]byte{named(strings.Repeat("k", maxInputKeyLen+1))}, []string{"input-1"}},
		{"longest", [][]byte{named(strings.Repeat("k", maxInputKeyLen))}, []string{strings.Repeat("k", maxInputKeyLen)}},
		{"quote", [][]byte{named(`a"b`)}, []string{"input-1"}},
		{"control", [][]byte{named("a\nb")}, []string{"input-1"}},
		{"non-ASCII", [][]byte{named("é")}, []string{"input-1"}},
		{"slash", [][]byte{named("a/b")}, []string{"input-1"}},
		{"number", [][]byte{[]byte(`{"_meta":{"` + InputKeyMeta + `":7}}`)}, []string{"input-1"}},
		{"meta not an object", [][]byte{[]byte(`{"_meta":["` + InputKeyMeta + `"]}`)}, []string{"input-1"}},
		{"params not an object", [][]byte{[]byte(`[1]`)}, []string{"input-1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reqs := make([]parkedRequest, len(c.params))
			for i, p := range c.params {
				reqs[i].params = p
			}
			nameInputs(reqs)
			for i, r := range reqs {
				if r.key != c.want[i] {
					t.Errorf("request %d: key %q, want %q", i, r.key, c.want[i])
				}
			}
		})
	}
}

// TestWithInputKey: the key is added to the params' _meta, keeping what
// is there; absent params become an object.
func TestWithInputKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", `{"_meta":{"` + InputKeyMeta + `":"k"}}`},
		{`{}`, `{"_meta":{"` + InputKeyMeta + `":"k"}}`},
		{`{"message":"m","_meta":{"a":1}}`, `{"message":"m","_meta":{"a":1,"` + InputKeyMeta + `":"k"}}`},
		{`{"_meta":{"` + InputKeyMeta + `":"old"}}`, `{"_meta":{"` + InputKeyMeta + `":"k"}}`},
	} {
		got, err := withInputKey([]byte(c.in), "k")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("withInputKey(%s) = %s, want %s", c.in, got, c.want)
		}
		if k, ok := namedInputKey(got); !ok || k != "k" {
			t.Errorf("namedInputKey(%s) = %q, %v", got, k, ok)
		}
	}
}

// FuzzNameInputs: whatever params a legacy upstream sends, the keys of a
// round are unique, non-empty, short and of the allowed characters.
func FuzzNameInputs(f *testing.F) {
	f.Add([]byte(`{"_meta":{"`+InputKeyMeta+`":"user_name"}}`), []byte(`{"_meta":{"`+InputKeyMeta+`":"input-1"}}`), []byte(nil))
	f.Add([]byte(`{"_meta":{"`+InputKeyMeta+`":"a\u0000"}}`), []byte(`[]`), []byte(`{"_meta":null}`))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		reqs := []parkedRequest{{params: a}, {params: b}, {params: c}}
		nameInputs(reqs)
		seen := map[string]bool{}
		for _, r := range reqs {
			if r.key == "" || len(r.key) > maxInputKeyLen || seen[r.key] {
				t.Fatalf("key %q (seen %v)", r.key, seen)
			}
			for i := 0; i < len(r.key); i++ {
				if ch := r.key[i]; !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '.' || ch == '_' || ch == '-') {
					t.Fatalf("key %q", r.key)
				}
			}
			seen[r.key] = true
		}
	})
}
