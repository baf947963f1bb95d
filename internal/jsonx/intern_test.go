package jsonx

import "testing"

func TestInterned(t *testing.T) {
	for _, s := range []string{"jsonrpc", "2.0", "id", "method", "params", "tools/call", "_meta", "server/discover", "", "x", "Method", "tools/call2"} {
		b := []byte(s)
		got := interned(b)
		if got != s {
			t.Fatalf("interned(%q) = %q", s, got)
		}
		for i := range b {
			b[i] = '#'
		}
		if got != s {
			t.Fatalf("interned(%q) changed with its input: %q", s, got)
		}
	}
}

// TestInternedAllocations: the names and methods every message repeats
// are read without allocating; others still are copied.
func TestInternedAllocations(t *testing.T) {
	msg := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{}}}`)
	if n := testing.AllocsPerRun(100, func() {
		if s, ok := String([]byte(`"tools/call"`)); !ok || s != "tools/call" {
			t.Fatal(s, ok)
		}
	}); n != 0 {
		t.Errorf("String of a method: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		if s, _ := String([]byte(`"some tool"`)); s != "some tool" {
			t.Fatal(s)
		}
	}); n != 1 {
		t.Errorf("String of another value: %v allocations, want 1", n)
	}
	base := testing.AllocsPerRun(100, func() { _, _ = ObjectMembersAlong(msg, 0, "params") })
	other := []byte(`{"jsonrpX":"2.0","iX":1,"methoX":"tools/call","paramX":{"namX":"x","argumentX":{}}}`)
	more := testing.AllocsPerRun(100, func() { _, _ = ObjectMembersAlong(other, 0, "paramX") })
	if more-base != 6 {
		t.Errorf("envelope names: %v allocations, unknown names of the same shape %v; want 6 fewer", base, more)
	}
}
