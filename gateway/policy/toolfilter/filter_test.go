package toolfilter

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

func TestAllowed(t *testing.T) {
	f, err := New(Options{
		Tools:     Rules{Deny: []string{"*_delete", "debug"}},
		Prompts:   Rules{Allow: []string{"greet", "help_*"}},
		Resources: Rules{Deny: []string{"file:///secret/*"}},
		Scopes: map[string]Scoped{
			"admin":    {Tools: Rules{Allow: []string{"admin_*"}}, Prompts: Rules{Allow: []string{"ops_*"}}},
			"readonly": {Tools: Rules{Deny: []string{"*_write", "admin_*"}}},
			"support":  {Tools: Rules{Allow: []string{"admin_list"}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind   Kind
		name   string
		scopes []string
		want   bool
	}{
		{Tool, "echo", nil, true},
		{Tool, "user_delete", nil, false},
		{Tool, "user_delete", []string{"admin"}, false}, // server deny wins over any grant
		{Tool, "debug", nil, false},
		{Tool, "admin_list", nil, false},                           // reserved to admin and support
		{Tool, "admin_list", []string{"admin"}, true},              // granted by admin
		{Tool, "admin_list", []string{"support"}, true},            // granted by support
		{Tool, "admin_reset", []string{"support"}, false},          // reserved to admin
		{Tool, "admin_list", []string{"admin", "readonly"}, false}, // a held scope's deny wins
		{Tool, "doc_write", []string{"readonly"}, false},
		{Tool, "doc_write", []string{"unknown-scope"}, true},
		{Prompt, "greet", nil, true},
		{Prompt, "help_me", nil, true},
		{Prompt, "other", nil, false}, // the server allow list excludes it
		{Prompt, "ops_runbook", nil, false},
		{Prompt, "ops_runbook", []string{"admin"}, true}, // a grant beyond the server allow list
		{Resource, "file:///public/a", nil, true},
		{Resource, "file:///secret/a", nil, false},
		{Resource, "file:///{path}", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String()+"/"+tt.name+"/"+strings.Join(tt.scopes, "+"), func(t *testing.T) {
			if got := f.Allowed(tt.kind, tt.name, tt.scopes); got != tt.want {
				t.Errorf("Allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNewReportsEveryError(t *testing.T) {
	_, err := New(Options{
		Tools:  Rules{Allow: []string{""}, Deny: []string{`x\`}},
		Scopes: map[string]Scoped{"": {}, "s": {Resources: Rules{Deny: []string{"\xff"}}}},
	})
	if err == nil {
		t.Fatal("New succeeded")
	}
	for _, want := range []string{"tools.allow", "tools.deny", "empty scope name", "scopes.s.resources.deny"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestFilterList(t *testing.T) {
	deny := func(name string) bool { return !strings.HasPrefix(name, "hidden") }
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"nothing to remove is byte-identical",
			`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}, {"name":"b"}],"nextCursor":"x"}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}, {"name":"b"}],"nextCursor":"x"}}`, false},
		{"removes hidden entries, keeps the rest as is",
			`{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","tools":[{"name":"hidden1","inputSchema":{}},{"name":"a","description":"A \u00e9"},{"name":"hidden2"}],"ttlMs":0}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","tools":[{"name":"a","description":"A \u00e9"}],"ttlMs":0}}`, false},
		{"removes everything",
			`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"hidden"}]}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`, false},
		{"entries without a readable name are removed",
			`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":1},{"title":"x"},"str",{"name":"ok"}]}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ok"}]}}`, false},
		{"error responses pass", `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"nope"}}`, `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"nope"}}`, false},
		{"notifications pass", `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`, `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`, false},
		{"result without the list passes", `{"jsonrpc":"2.0","id":1,"result":{}}`, `{"jsonrpc":"2.0","id":1,"result":{}}`, false},
		{"list not an array", `{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"hidden"}}}`, "", true},
		{"result not an object", `{"jsonrpc":"2.0","id":1,"result":[1]}`, "", true},
		{"not JSON", `{"jsonrpc":"2.0","id":1,"result":{"tools":[}`, "", true},
		{"duplicate keys are refused, not guessed", `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"tools":[{"name":"hidden"}]}}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := filterList([]byte(tt.in), "tools", "name", deny)
			if tt.err {
				if !errors.Is(err, errBadList) {
					t.Fatalf("err = %v, want errBadList", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func decodeCall(t testing.TB, raw string, p *gateway.Principal) *gateway.Call {
	t.Helper()
	m, err := jsonrpc.Decode([]byte(raw), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	params, err := mcp.ParseParams(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{Route: "r", Era: mcp.EraModern, Principal: p, Msg: m, Params: params}
}

// TestWrap checks refusals and list filtering on a streamed reply, where
// the list response follows other events.
func TestWrap(t *testing.T) {
	f, err := New(Options{
		Tools:     Rules{Deny: []string{"secret*"}},
		Prompts:   Rules{Deny: []string{"p2"}},
		Resources: Rules{Deny: []string{"test://private/*", "file:///secret/*"}},
		Scopes:    map[string]Scoped{"ops": {Tools: Rules{Allow: []string{"ops_*"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	reached := 0
	h := f.Wrap(func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		reached++
		if c.Msg.Method != mcp.MethodToolsList {
			return upstream.Message([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)), nil
		}
		return &upstream.StaticReply{I: upstream.Info{Status: 200, Stream: true}, Events: []*upstream.Event{
			{ID: "e1", Data: []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"secret_tool is loading"}}`)},
			{ID: "e2", Data: []byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"echo"},{"name":"secret_tool"},{"name":"ops_restart"}]}}`)},
		}}, nil
	})
	ops := &gateway.Principal{Subject: "u", Scopes: []string{"ops"}}
	refusals := []struct {
		name string
		raw  string
		p    *gateway.Principal
		want string // "" when allowed
	}{
		{"hidden tool", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret_tool"}}`, nil, `Forbidden: tool "secret_tool" is not available through this gateway`},
		{"reserved tool without scope", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ops_restart"}}`, nil, `Forbidden: tool "ops_restart" is not available through this gateway`},
		{"reserved tool with scope", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ops_restart"}}`, ops, ""},
		{"hidden prompt", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p2"}}`, nil, `Forbidden: prompt "p2" is not available through this gateway`},
		{"hidden resource", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"test://private/k"}}`, nil, `Forbidden: resource "test://private/k" is not available through this gateway`},
		{"dot segments cannot escape", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///public/../secret/k"}}`, nil, "Forbidden"},
		{"host case cannot escape", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"TEST://PRIVATE/k"}}`, nil, "Forbidden"},
		{"percent-encoding cannot escape", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"test://private/%6b"}}`, nil, "Forbidden"},
		{"unparsable URIs are refused", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"::not a uri"}}`, nil, "Forbidden"},
		{"visible resource", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"test://public/a"}}`, nil, ""},
		{"hidden resource subscribe", `{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{"uri":"test://private/k"}}`, nil, "Forbidden"},
		{"completion of a hidden prompt", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p2"},"argument":{"name":"a","value":""}}}`, nil, "Forbidden"},
		{"completion of a hidden template", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":"test://private/{x}"},"argument":{"name":"x","value":""}}}`, nil, "Forbidden"},
		{"completion of a visible prompt", `{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"p1"},"argument":{"name":"a","value":""}}}`, nil, ""},
		{"long names are cut in messages", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret` + strings.Repeat("é", 200) + `"}}`, nil, "…\" is not available"},
		{"other tools pass", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`, nil, ""},
		{"notifications pass", `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`, nil, ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			before := reached
			_, err := h(context.Background(), decodeCall(t, tt.raw, tt.p))
			if tt.want == "" {
				if err != nil || reached != before+1 {
					t.Fatalf("err = %v, upstream reached %d times", err, reached-before)
				}
				return
			}
			var re *jsonrpc.Error
			if !errors.As(err, &re) || re.Code != jsonrpc.CodeForbidden || !strings.Contains(re.Message, tt.want) {
				t.Fatalf("err = %v, want CodeForbidden containing %q", err, tt.want)
			}
			if reached != before {
				t.Fatal("a refused call reached the upstream")
			}
		})
	}
	for _, tt := range []struct {
		p    *gateway.Principal
		want []string
	}{{nil, []string{"echo"}}, {ops, []string{"echo", "ops_restart"}}} {
		reply, err := h(context.Background(), decodeCall(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, tt.p))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var ids []string
		for {
			ev, err := reply.Next(context.Background())
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, ev.ID)
			var m struct {
				Result *struct {
					Tools []struct{ Name string } `json:"tools"`
				} `json:"result"`
			}
			json.Unmarshal(ev.Data, &m)
			if m.Result != nil {
				for _, tool := range m.Result.Tools {
					got = append(got, tool.Name)
				}
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("tools (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"e1", "e2"}, ids); diff != "" {
			t.Errorf("event ids must survive filtering (-want +got):\n%s", diff)
		}
	}
}

// FuzzFilterList feeds arbitrary upstream messages to the list filter: it
// must never panic, and what it returns must be valid JSON in which no
// hidden entry survives.
func FuzzFilterList(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"hidden"},{"name":"a"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"hidd\u0065n"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[ ]  , "x":1 }}`,
		`{"jsonrpc":"2.0","method":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := filterList(data, "tools", "name", func(n string) bool { return n != "hidden" })
		if err != nil {
			return
		}
		m, err := jsonrpc.Decode(out, jsonrpc.Limits{})
		if err != nil {
			t.Fatalf("output is not a valid message: %q -> %q: %v", data, out, err)
		}
		if m.Kind != jsonrpc.KindResponse || m.Result == nil {
			return
		}
		var r struct {
			Tools []json.RawMessage `json:"tools"`
		}
		if json.Unmarshal(m.Result, &r) != nil {
			return
		}
		for _, tool := range r.Tools {
			var named struct {
				Name string `json:"name"`
			}
			if json.Unmarshal(tool, &named) == nil && named.Name == "hidden" {
				t.Fatalf("hidden entry survived: %q -> %q", data, out)
			}
		}
	})
}

func TestNormalizeURI(t *testing.T) {
	for in, want := range map[string]string{
		"file:///a/b/../c/./d":     "file:///a/c/d",
		"file:///a/b/..":           "file:///a/",
		"FILE:///A/b":              "file:///A/b",
		"https://Example.COM/x?q":  "https://example.com/x?q",
		"test://host/%61%2Fb":      "test://host/a/b",
		"urn:ISBN:0451450523":      "urn:ISBN:0451450523",
		"file:///../../etc/passwd": "file:///etc/passwd",
		"s3://bucket":              "s3://bucket",
	} {
		got, ok := normalizeURI(in)
		if !ok || got != want {
			t.Errorf("normalizeURI(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "no-scheme/path", "%zz://x", "http://[::1"} {
		if got, ok := normalizeURI(bad); ok {
			t.Errorf("normalizeURI(%q) = %q, want failure", bad, got)
		}
	}
}

// FuzzNormalizeURI: normalizing never panics, and is idempotent, so a
// normalized URI means one resource.
func FuzzNormalizeURI(f *testing.F) {
	for _, s := range []string{"file:///a/../b", "test://h/%2e%2e/x", "urn:a:b", "http://u@h:1/p?q#f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := normalizeURI(s)
		if !ok {
			return
		}
		if n2, ok := normalizeURI(n); ok && n2 != n && !strings.Contains(n, "%") && !strings.ContainsAny(n, "#?") {
			t.Fatalf("normalizeURI(%q) = %q, then %q", s, n, n2)
		}
	})
}

// TestMissingTarget calls the filter directly (the gateway's own check
// stops such messages first): a call without its target member, or a
// completion whose ref lacks one, never reaches the next handler.
func TestMissingTarget(t *testing.T) {
	f, err := New(Options{Tools: Rules{Deny: []string{"delete_*"}}, Prompts: Rules{Deny: []string{"secret"}}, Resources: Rules{Deny: []string{"x://secret/*"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := f.Wrap(func(context.Context, *gateway.Call) (upstream.Reply, error) {
		t.Fatal("the call went on")
		return nil, nil
	})
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"delete_user"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"NAME":"secret"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"Uri":"x://secret/k"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","Name":"secret"},"argument":{"name":"a","value":""}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"completion/complete","params":{"ref":{"type":"ref/resource","uri":5},"argument":{"name":"a","value":""}}}`,
	} {
		msg, err := jsonrpc.Decode([]byte(body), jsonrpc.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := mcp.ParseParams(msg.Params)
		_, err = h(context.Background(), &gateway.Call{Msg: msg, Params: p})
		var re *jsonrpc.Error
		if !errors.As(err, &re) || re.Code != jsonrpc.CodeInvalidParams {
			t.Errorf("%s: %v", body, err)
		}
	}
}
