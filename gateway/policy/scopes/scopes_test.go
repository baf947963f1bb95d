package scopes

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
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

// FuzzFilterList feeds upstream list results to the filter: it never
// panics, and what it passes on is either the input unchanged or a list
// without the entries the caller may not use.
func FuzzFilterList(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"delete_user"}]}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"delete_x","name":"echo"}]}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"delete_user"}}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"\u0064elete_user"},1,null]}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"Name":"delete_user"},{"name":"delete_x"}]}}`))
	rules := []Rule{{Pattern: "delete_*", Groups: []string{"admins"}}}
	pr := &gateway.Principal{Scopes: []string{"mcp:tools"}, Groups: []string{"users"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := filterList(data, "tools", rules, pr)
		if err != nil {
			return
		}
		if strings.Contains(strings.ToLower(string(out)), `"delete_`) && string(out) != string(data) {
			t.Fatalf("rewritten list still names a hidden tool: %s", out)
		}
	})
}

func TestFilterListDropsUnnamedEntries(t *testing.T) {
	data := []byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"Name":"delete_user"},{"name":1},"x",{"name":"delete_me"}]}}`)
	got, err := filterList(data, "tools", []Rule{{Pattern: "delete_*", Groups: []string{"admins"}}}, &gateway.Principal{})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"}]}}`
	if string(got) != want {
		t.Fatalf("filterList = %s\nwant %s", got, want)
	}
}

// TestRequireTarget calls the policy directly (the gateway's own check
// stops such messages first): a call without its target member never
// reaches the next handler.
func TestRequireTarget(t *testing.T) {
	h := New(Options{Tools: []Rule{{Pattern: "delete_*", Scopes: []string{"mcp:admin"}}}})(func(context.Context, *gateway.Call) (upstream.Reply, error) {
		t.Fatal("the call went on")
		return nil, nil
	})
	for _, method := range []string{"tools/call", "prompts/get", "resources/read", "resources/subscribe"} {
		msg, err := jsonrpc.Decode([]byte(`{"jsonrpc":"2.0","id":1,"method":"`+method+`","params":{"Name":"delete_user","URI":"x"}}`), jsonrpc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := mcp.ParseParams(msg.Params)
		_, err = h(context.Background(), &gateway.Call{Msg: msg, Params: p, Principal: &gateway.Principal{Subject: "u"}})
		var re *jsonrpc.Error
		if !errors.As(err, &re) || re.Code != jsonrpc.CodeInvalidParams {
			t.Errorf("%s: %v", method, err)
		}
	}
}

// TestCompletionFollowsRules: completion/complete on a protected prompt or
// resource template needs what getting or reading it needs.
func TestCompletionFollowsRules(t *testing.T) {
	reached := 0
	h := New(Options{
		Prompts:   []Rule{{Pattern: "secret_*", Groups: []string{"admins"}}},
		Resources: []Rule{{Pattern: "file:///secret/*", Scopes: []string{"mcp:admin"}}},
	})(func(context.Context, *gateway.Call) (upstream.Reply, error) {
		reached++
		return nil, nil
	})
	user := &gateway.Principal{Subject: "u", Scopes: []string{"mcp:tools"}, Groups: []string{"users"}}
	admin := &gateway.Principal{Subject: "a", Scopes: []string{"mcp:admin"}, Groups: []string{"admins"}}
	for _, tt := range []struct {
		ref   string
		p     *gateway.Principal
		allow bool
	}{
		{`{"type":"ref/prompt","name":"secret_p"}`, user, false},
		{`{"type":"ref/prompt","name":"secret_p"}`, admin, true},
		{`{"type":"ref/prompt","name":"open"}`, user, true},
		{`{"type":"ref/resource","uri":"file:///secret/{name}"}`, user, false},
		{`{"type":"ref/resource","uri":"file:///secret/{name}"}`, admin, true},
	} {
		msg, err := jsonrpc.Decode([]byte(`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":`+tt.ref+`,"argument":{"name":"a","value":""}}}`), jsonrpc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		before := reached
		_, err = h(context.Background(), &gateway.Call{Msg: msg, Principal: tt.p})
		if allowed := err == nil && reached == before+1; allowed != tt.allow {
			t.Errorf("%s as %s: %v, want allowed %v", tt.ref, tt.p.Subject, err, tt.allow)
		}
	}
}
