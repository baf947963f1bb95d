package jsonskim

import (
	"bytes"
	"testing"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

func TestMember(t *testing.T) {
	obj := []byte(` { "a" : 1 , "b":{"x":"}\"]"},"\u006eame" : "n\u00e9", "arr":[ {"k":[1,2]}, "s", 3 ] } `)
	for key, want := range map[string]string{"a": "1", "b": `{"x":"}\"]"}`, "name": `"n\u00e9"`, "arr": `[ {"k":[1,2]}, "s", 3 ]`} {
		got, ok := Member(obj, key)
		if !ok || string(got) != want {
			t.Errorf("Member(%q) = %q, %v; want %q", key, got, ok, want)
		}
	}
	if _, ok := Member(obj, "missing"); ok {
		t.Error("found a missing key")
	}
	if s, ok := String(obj, "name"); !ok || s != "né" {
		t.Errorf("String = %q, %v", s, ok)
	}
	arr, _ := Member(obj, "arr")
	var elems []string
	if !Elements(arr, func(e []byte) bool { elems = append(elems, string(e)); return true }) || len(elems) != 3 || elems[0] != `{"k":[1,2]}` {
		t.Errorf("Elements = %q", elems)
	}
	if !Elements([]byte(`[]`), func([]byte) bool { t.Error("called"); return true }) {
		t.Error("empty array")
	}
}

// FuzzAgainstJSONX checks every answer against jsonx's validating
// navigation, on every input jsonx accepts, and that nothing panics on the
// rest.
func FuzzAgainstJSONX(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"]"}],"c":"\"","d":{}}`, `{"\u0061":true}`, `[1,"x",[],{}]`, `{`, `["`} {
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		got, gotOK := Member(b, key)
		var elems [][]byte
		arrOK := Elements(b, func(e []byte) bool { elems = append(elems, e); return true })
		if jsonx.Validate(b, 0) != nil {
			return
		}
		if jsonx.IsObject(b) {
			want, wantOK := jsonx.Get(b, key)
			if gotOK != wantOK || !bytes.Equal(got, want) {
				t.Fatalf("Member(%q, %q) = %q %v, jsonx %q %v", b, key, got, gotOK, want, wantOK)
			}
		}
		if bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("[")) {
			var want [][]byte
			jsonx.WalkArray(b, func(e []byte) bool { want = append(want, e); return true })
			if !arrOK || len(elems) != len(want) {
				t.Fatalf("Elements(%q) = %q %v, jsonx %q", b, elems, arrOK, want)
			}
			for i := range want {
				if !bytes.Equal(elems[i], want[i]) {
					t.Fatalf("Elements(%q)[%d] = %q, jsonx %q", b, i, elems[i], want[i])
				}
			}
		}
	})
}
