package jsonx

import (
	"slices"
	"testing"
)

// FuzzObjectMembersAlong: ObjectMembersAlong accepts exactly what
// ObjectMembers accepts, returns the same top-level members, and the
// members of the objects along its path as WalkObject finds them.
func FuzzObjectMembersAlong(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"m","params":{"name":"t","_meta":{"k":1,"p":"x"}}}`,
		`{"params":[1,2]}`, `{"params":{"_meta":"x"}}`, `{"params":{"a":1,"a":2}}`,
		`{"params":{"_meta":{"a":1,"\u0061":2}}}`, `{"params":{}}`, `{}`, `{"params":{"_meta":{}}} x`,
		`{"a":{"b":{"c":{}}}}`, `{"params":{"_meta":{"x":[{"y":{}}]}}}`, `[1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := ObjectMembers(b, 8)
		levels, err := ObjectMembersAlong(b, 8, "params", "_meta")
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: ObjectMembersAlong error %v, ObjectMembers error %v", b, err, werr)
		}
		if err != nil {
			return
		}
		if !equal(levels[0], want) {
			t.Fatalf("%q: top level %q, want %q", b, levels[0], want)
		}
		obj := b
		for i, key := range []string{"params", "_meta"} {
			var next []byte
			for _, m := range members(obj) {
				if m.Key == key && IsObject(m.Value) {
					next = m.Value
				}
			}
			if next == nil {
				if levels[i+1] != nil {
					t.Fatalf("%q: level %d is %q, want none", b, i+1, levels[i+1])
				}
				return
			}
			if w := members(next); !equal(levels[i+1], w) {
				t.Fatalf("%q: level %d is %q, want %q", b, i+1, levels[i+1], w)
			}
			obj = next
		}
	})
}

func members(obj []byte) []Member {
	out := []Member{}
	_ = WalkObject(obj, func(k string, v []byte) bool { out = append(out, Member{k, v}); return true })
	return out
}

func equal(a, b []Member) bool {
	return slices.EqualFunc(a, b, func(x, y Member) bool { return x.Key == y.Key && string(x.Value) == string(y.Value) })
}
