package scopes

import (
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"echo", "echo", true},
		{"echo", "echo2", false},
		{"delete_*", "delete_user", true},
		{"delete_*", "undelete_user", false},
		{"*", "", true},
		{"?", "", false},
		{"a?c", "abc", true},
		{"file:///secret/*", "file:///secret/a/b", true},
		{"*admin*", "super_admin_tool", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v", tt.pattern, tt.name, got)
		}
	}
}

func TestFilterList(t *testing.T) {
	data := []byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"delete_user"},{"name":"read"}],"nextCursor":"c"}}`)
	rules := []Rule{{Pattern: "delete_*", Scopes: []string{"mcp:admin"}}, {Pattern: "read", Scopes: []string{"mcp:tools:read"}}}
	got, err := filterList(data, "tools", rules, &gateway.Principal{Scopes: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"read"}],"nextCursor":"c"}}`
	if string(got) != want {
		t.Fatalf("filterList = %s\nwant %s", got, want)
	}
	got, _ = filterList(data, "tools", rules, &gateway.Principal{Scopes: []string{"mcp:admin", "mcp:tools:read"}})
	if string(got) != string(data) {
		t.Fatalf("nothing to drop, but the result changed: %s", got)
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("***", "")
	f.Fuzz(func(t *testing.T, pattern, name string) {
		got := Match(pattern, name)
		if !strings.ContainsAny(pattern, "*?") && got != (pattern == name) {
			t.Fatalf("literal pattern %q vs %q: %v", pattern, name, got)
		}
		if Match("*", name) != true {
			t.Fatal("* must match everything")
		}
	})
}
