package schema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

const searchSchema = `{
  "type": "object",
  "$defs": {"filter": {"type": "object", "properties": {"field": {"type": "string"}, "value": {"type": "string", "maxLength": 5}}, "required": ["field"], "additionalProperties": false}},
  "properties": {
    "query": {"type": "string", "minLength": 1},
    "limit": {"type": "integer", "minimum": 1, "maximum": 50},
    "mode": {"enum": ["fast", "full"]},
    "filter": {"$ref": "#/$defs/filter"}
  },
  "required": ["query"],
  "additionalProperties": false
}`

// fakeUpstream is the rest of the chain for unit tests: it answers
// tools/list from pages and counts tools/call.
type fakeUpstream struct {
	mu    sync.Mutex
	pages [][]string // tool JSON objects per page
	lists atomic.Int64
	calls atomic.Int64
	fail  error

	catOnce sync.Once
	cat     *gateway.Catalog
	catOpts gateway.CatalogOptions
}

// catalog is the route's tool catalog, listing through this upstream.
func (u *fakeUpstream) catalog() *gateway.Catalog {
	u.catOnce.Do(func() { u.cat = gateway.NewCatalog(u.handler, u.catOpts) })
	return u.cat
}

func (u *fakeUpstream) setPages(p ...[]string) {
	u.mu.Lock()
	u.pages = p
	u.mu.Unlock()
}

func (u *fakeUpstream) handler(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
	switch c.Msg.Method {
	case mcp.MethodToolsList:
		u.lists.Add(1)
		if u.fail != nil {
			return nil, u.fail
		}
		page := 0
		var p struct {
			Cursor string `json:"cursor"`
		}
		json.Unmarshal(c.Msg.Params, &p)
		fmt.Sscanf(p.Cursor, "page%d", &page)
		u.mu.Lock()
		pages := u.pages
		u.mu.Unlock()
		res := `{"tools":[` + strings.Join(pages[page], ",") + `]`
		if page+1 < len(pages) {
			res += fmt.Sprintf(`,"nextCursor":"page%d"`, page+1)
		}
		res += "}"
		return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, []byte(res))), nil
	case mcp.MethodToolsCall:
		u.calls.Add(1)
		return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, []byte(`{"content":[{"type":"text","text":"ran"}]}`))), nil
	}
	return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, []byte(`{}`))), nil
}

func tool(name, schema string) string {
	return fmt.Sprintf(`{"name":%q,"inputSchema":%s}`, name, schema)
}

func toolsCall(t testing.TB, era mcp.Era, name, args string) *gateway.Call {
	t.Helper()
	params := fmt.Sprintf(`{"name":%q`, name)
	if args != "" {
		params += `,"arguments":` + args
	}
	if era == mcp.EraModern {
		params += `,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	}
	params += "}"
	m, err := jsonrpc.Decode(jsonrpc.AppendRequest(nil, jsonrpc.Int64ID(9), "tools/call", []byte(params)), jsonrpc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := mcp.ParseParams(m.Params)
	if err != nil {
		t.Fatal(err)
	}
	return &gateway.Call{Route: "r", Era: era, Msg: m, Params: p, Principal: &gateway.Principal{Issuer: "i", Subject: "s"}}
}

type outcome struct {
	Forwarded bool
	IsError   bool
	Text      string
	RPCCode   int64
}

func run(t *testing.T, h gateway.Handler, c *gateway.Call, up *fakeUpstream) outcome {
	t.Helper()
	before := up.calls.Load()
	if c.Catalog == nil {
		c.Catalog = up.catalog()
	}
	reply, err := h(context.Background(), c)
	var o outcome
	o.Forwarded = up.calls.Load() > before
	if err != nil {
		var re *jsonrpc.Error
		if !errors.As(err, &re) {
			t.Fatalf("error %v is not a JSON-RPC error", err)
		}
		o.RPCCode, o.Text = re.Code, re.Message
		return o
	}
	res, err := gateway.FinalResult(context.Background(), reply)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		ResultType string                  `json:"resultType"`
		IsError    bool                    `json:"isError"`
		Content    []struct{ Text string } `json:"content"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	if r.IsError && (c.Era == mcp.EraModern) != (r.ResultType == "complete") {
		t.Errorf("resultType %q in era %v", r.ResultType, c.Era)
	}
	o.IsError = r.IsError
	if len(r.Content) > 0 {
		o.Text = r.Content[0].Text
	}
	return o
}

func TestValidate(t *testing.T) {
	up := &fakeUpstream{}
	up.setPages([]string{tool("search", searchSchema), tool("noargs", `{"type":"object","additionalProperties":false}`)},
		[]string{tool("remote", `{"properties":{"x":{"$ref":"https://example.com/x.json"}}}`), `{"name":"noschema"}`, tool("echo", `{"type":"object","properties":{"text":{"type":"string"},"path":{"type":"string"},"n":{"type":"number"},"tags":{"type":"array"}}}`)})
	maxN := 10.0
	v, err := New(Options{Constraints: []ToolConstraints{
		{Tool: "echo", Args: []Constraint{
			{Path: "/text", MaxLength: 5, Required: true},
			{Path: "/path", DenyPattern: `\.\./`, Deny: []any{"/etc/passwd"}},
			{Path: "/n", Maximum: &maxN},
			{Path: "/tags", MaxItems: 2},
			{Path: "/tags/*", Enum: []any{"a", "b", 3}},
		}},
		{Tool: "s*", Args: []Constraint{{Path: "/query", Pattern: `^[a-z ]+$`}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := v.Wrap(up.handler)
	tests := []struct {
		name string
		era  mcp.Era
		tool string
		args string
		want outcome
	}{
		{"valid", mcp.EraLegacy, "search", `{"query":"cats","limit":5,"filter":{"field":"a","value":"b"}}`, outcome{Forwarded: true, Text: "ran"}},
		{"valid modern", mcp.EraModern, "search", `{"query":"cats"}`, outcome{Forwarded: true, Text: "ran"}},
		{"missing required", mcp.EraLegacy, "search", `{}`, outcome{IsError: true, Text: "Invalid arguments for tool \"search\":\n- (arguments): missing property 'query'"}},
		{"missing required, modern result", mcp.EraModern, "search", `{}`, outcome{IsError: true, Text: "Invalid arguments for tool \"search\":\n- (arguments): missing property 'query'"}},
		{"wrong type and range", mcp.EraLegacy, "search", `{"query":"x","limit":500,"mode":"slow"}`, outcome{IsError: true, Text: "Invalid arguments for tool \"search\":\n- /limit: maximum: got 500, want 50\n- /mode: value must be one of 'fast', 'full'"}},
		{"integer check", mcp.EraLegacy, "search", `{"query":"x","limit":2.5}`, outcome{IsError: true, Text: "Invalid arguments for tool \"search\":\n- /limit: got number, want integer"}},
		{"nested $ref target", mcp.EraLegacy, "search", `{"query":"x","filter":{"value":"toolong"}}`, outcome{IsError: true, Text: "Invalid arguments for tool \"search\":\n- /filter: missing property 'field'\n- /filter/value: maxLength: got 7, want 5"}},
		{"additional property", mcp.EraLegacy, "search", `{"query":"x","drop":1}`, outcome{IsError: true, Text: "Invalid arguments for tool \"search\":\n- (arguments): additional properties 'drop' not allowed"}},
		{"operator pattern layered on top", mcp.EraLegacy, "search", `{"query":"DROP TABLE"}`, outcome{IsError: true, Text: "Invalid arguments for tool \"search\":\n- /query: does not match the pattern required by gateway policy"}},
		{"arguments absent means {}", mcp.EraLegacy, "noargs", ``, outcome{Forwarded: true, Text: "ran"}},
		{"arguments null is checked as null", mcp.EraLegacy, "noargs", `null`, outcome{IsError: true, Text: "Invalid arguments for tool \"noargs\":\n- (arguments): got null, want object"}},
		{"operator constraints", mcp.EraLegacy, "echo", `{"text":"toolong","path":"a/../b","n":11,"tags":["a","c","b"]}`, outcome{IsError: true, Text: "Invalid arguments for tool \"echo\":\n- /n: must be at most 10\n- /path: matches a pattern refused by gateway policy\n- /tags: has more than 2 items\n- /tags/1: is not one of the values allowed by gateway policy\n- /text: is longer than 5 characters"}},
		{"operator required and denied value", mcp.EraLegacy, "echo", `{"path":"/etc/passwd","tags":[3.0]}`, outcome{IsError: true, Text: "Invalid arguments for tool \"echo\":\n- /path: is a value refused by gateway policy\n- /text: is required by gateway policy"}},
		{"operator type strictness", mcp.EraLegacy, "echo", `{"text":["a"]}`, outcome{IsError: true, Text: "Invalid arguments for tool \"echo\":\n- /text: got array, want string\n- /text: must be a string"}},
		{"huge exponent refused before validation", mcp.EraLegacy, "echo", `{"text":"a","n":1e999999}`, outcome{IsError: true, Text: "Invalid arguments for tool \"echo\":\n- (arguments): a number in the arguments is out of range"}},
		{"unknown tool", mcp.EraLegacy, "nope", `{}`, outcome{RPCCode: jsonrpc.CodeInvalidParams, Text: `Unknown tool: "nope"`}},
		{"external $ref", mcp.EraLegacy, "remote", `{"x":1}`, outcome{RPCCode: jsonrpc.CodeForbidden, Text: `Forbidden: the gateway cannot check the arguments of tool "remote": its inputSchema is unusable: it references a schema outside itself, which the gateway never fetches`}},
		{"no inputSchema", mcp.EraLegacy, "noschema", `{}`, outcome{RPCCode: jsonrpc.CodeForbidden, Text: `Forbidden: the gateway cannot check the arguments of tool "noschema": its inputSchema is unusable: it is not a JSON object`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, h, toolsCall(t, tt.era, tt.tool, tt.args), up)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	st := v.Stats()
	if st.Compiled != 5 || up.lists.Load() != 4 {
		t.Errorf("stats %+v, %d listings: want 5 compilations (one per distinct schema) and one two-page listing per era", st, up.lists.Load())
	}
}

// TestLearning checks that definitions are listed once and reused, that
// a stale one is refreshed (or kept if the refresh fails), and that a
// changed schema is compiled anew.
func TestLearning(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	up := &fakeUpstream{catOpts: gateway.CatalogOptions{TTL: time.Minute, Now: func() time.Time { return now }}}
	up.setPages([]string{tool("t", `{"properties":{"a":{"type":"string"}}}`)})
	v, _ := New(Options{})
	h := v.Wrap(up.handler)

	if got := run(t, h, toolsCall(t, mcp.EraLegacy, "t", `{"a":1}`), up); !got.IsError {
		t.Fatalf("invalid call passed: %+v", got)
	}
	for range 5 {
		run(t, h, toolsCall(t, mcp.EraLegacy, "t", `{"a":"x"}`), up)
	}
	if st := v.Stats(); st.Compiled != 1 || st.Checked != 5 || up.lists.Load() != 1 {
		t.Fatalf("compiled or listed per call? %+v, %d listings", st, up.lists.Load())
	}

	// The upstream changes the tool; after the TTL a call relearns it.
	up.setPages([]string{tool("t", `{"properties":{"a":{"type":"integer"}}}`)})
	now = now.Add(2 * time.Minute)
	if got := run(t, h, toolsCall(t, mcp.EraLegacy, "t", `{"a":"x"}`), up); !got.IsError || !strings.Contains(got.Text, "want integer") {
		t.Fatalf("after refresh: %+v", got)
	}
	if st := v.Stats(); up.lists.Load() != 2 || st.Compiled != 2 {
		t.Fatalf("stats after refresh %+v, %d listings", st, up.lists.Load())
	}

	// A failing refresh keeps the stale definition; an unknown tool with a
	// failing listing is an upstream error, not "Unknown tool".
	now = now.Add(2 * time.Minute)
	up.fail = errors.New("connection refused")
	if got := run(t, h, toolsCall(t, mcp.EraLegacy, "t", `{"a":3}`), up); !got.Forwarded {
		t.Fatalf("stale definition not used: %+v", got)
	}
	if got := run(t, h, toolsCall(t, mcp.EraLegacy, "other", `{}`), up); got.RPCCode != jsonrpc.CodeUpstreamUnavailable || strings.Contains(got.Text, "refused") {
		t.Fatalf("unknown tool while the upstream fails: %+v", got)
	}
	// The cause travels for the gateway to log, not in the message.
	c := toolsCall(t, mcp.EraLegacy, "other", `{}`)
	c.Catalog = up.catalog()
	_, err := h(context.Background(), c)
	var ge *gateway.Error
	if !errors.As(err, &ge) || !errors.Is(ge.Cause, up.fail) {
		t.Fatalf("error %#v carries no cause", err)
	}
}

// TestSessionGoneWhileLearning: when the tools cannot be listed because
// the caller's upstream session is gone, the call fails with that error
// (the gateway answers 404 and the client starts a new session), not with
// an upstream error that leaves the client on a dead session.
func TestSessionGoneWhileLearning(t *testing.T) {
	up := &fakeUpstream{fail: fmt.Errorf("listing: %w", upstream.ErrSessionGone)}
	v, _ := New(Options{})
	c := toolsCall(t, mcp.EraLegacy, "t", `{}`)
	c.Catalog = up.catalog()
	if _, err := v.Wrap(up.handler)(context.Background(), c); !errors.Is(err, upstream.ErrSessionGone) {
		t.Fatalf("error %v, want the session gone", err)
	}
	if up.calls.Load() != 0 {
		t.Fatal("the call went upstream")
	}
}

func TestAllowOptions(t *testing.T) {
	up := &fakeUpstream{}
	up.setPages([]string{tool("remote", `{"$ref":"https://example.com/s.json"}`)})
	v, _ := New(Options{AllowUnknownTools: true, AllowUncheckableSchemas: true})
	h := v.Wrap(up.handler)
	for _, name := range []string{"remote", "unlisted"} {
		if got := run(t, h, toolsCall(t, mcp.EraLegacy, name, `{}`), up); !got.Forwarded {
			t.Errorf("%s: %+v, want forwarded", name, got)
		}
	}
	if st := v.Stats(); st.Unchecked != 2 {
		t.Errorf("stats %+v", st)
	}
}

// TestConcurrentFirstCalls checks that many simultaneous first calls of a
// tool share one listing and one compilation.
func TestConcurrentFirstCalls(t *testing.T) {
	up := &fakeUpstream{}
	up.setPages([]string{tool("t", searchSchema)})
	v, _ := New(Options{})
	h := v.Wrap(up.handler)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := toolsCall(t, mcp.EraLegacy, "t", `{"query":"q"}`)
			c.Catalog = up.catalog()
			reply, err := h(context.Background(), c)
			if err != nil {
				t.Error(err)
				return
			}
			reply.Close()
		}()
	}
	wg.Wait()
	if st := v.Stats(); st.Compiled != 1 || st.Checked != 32 || up.lists.Load() != 1 {
		t.Errorf("stats %+v, %d listings", st, up.lists.Load())
	}
}

func TestCacheBounded(t *testing.T) {
	up := &fakeUpstream{}
	var tools []string
	for i := range 4 {
		tools = append(tools, tool(fmt.Sprint("t", i), fmt.Sprintf(`{"properties":{"a":{"maxLength":%d}}}`, i+1)))
	}
	up.setPages(tools)
	v, _ := New(Options{MaxSchemas: 2})
	h := v.Wrap(up.handler)
	for range 2 {
		for i := range 4 {
			run(t, h, toolsCall(t, mcp.EraLegacy, fmt.Sprint("t", i), `{"a":"x"}`), up)
		}
	}
	if n := v.cache.len(); n > 2 {
		t.Errorf("%d compiled schemas kept, want at most 2", n)
	}
	if st := v.Stats(); st.Checked != 8 {
		t.Errorf("stats %+v: every call must still be checked", st)
	}
}
