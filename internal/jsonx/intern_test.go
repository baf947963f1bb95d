package jsonx

import "testing"

func TestInterned(t *testing.T) {
	for _, s := range []string{"jsonrpc", "2.0", "id", "method", "params", "tools/call", "_meta", "server/discover", "io.modelcontextprotocol/protocolVersion", "2026-07-28", "", "x", "Method", "tools/call2", "2026-07-29"} {
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
	modern := []byte(`{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{}}`)
	if n := testing.AllocsPerRun(100, func() {
		ms, err := ObjectMembers(modern, 0)
		if err != nil || len(ms) != 3 {
			t.Fatal(ms, err)
		}
		if s, ok := String(ms[0].Value); !ok || s != "2026-07-28" {
			t.Fatal(s, ok)
		}
	}); n != 1 { // the members
		t.Errorf("a 2026-07-28 request's _meta: %v allocations, want 1", n)
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
