package policytest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/gateway/upstream/local"
	"github.com/mcpfort/mcpfort/gateway/upstream/remote"
	"github.com/mcpfort/mcpfort/gateway/upstream/stdio"
)

// Era picks the upstream and client protocol era of a test.
type Era struct {
	Name string
	// Stateless starts a stateless upstream (2026-07-28 and session-less
	// legacy); otherwise a session-based one.
	Stateless bool
	// Version is the client's protocol version ("" for the newest, which
	// is 2026-07-28).
	Version string
}

// Eras are the combinations every policy is tested in: each era directly,
// and bridged both ways.
var Eras = []Era{
	{Name: "legacy", Version: "2025-11-25"},
	{Name: "modern", Stateless: true},
	{Name: "modern-to-legacy", Stateless: false},
	{Name: "legacy-to-stateless", Stateless: true, Version: "2025-06-18"},
}

// Upstream is a go-sdk MCP server with a few tools, prompts and resources,
// counting the tool calls it serves.
type Upstream struct {
	URL   string
	calls sync.Map // tool name -> *atomic.Int64
}

// Calls returns how many times the upstream ran tool.
func (u *Upstream) Calls(tool string) int64 {
	v, ok := u.calls.Load(tool)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (u *Upstream) count(tool string) {
	v, _ := u.calls.LoadOrStore(tool, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// SearchSchema is the inputSchema of the "search" tool: 2020-12 with $defs
// and a local $ref, patterns, enums, ranges and additionalProperties false.
const SearchSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {"filter": {"type": "object", "properties": {"field": {"type": "string"}, "value": {"type": "string", "maxLength": 20}}, "required": ["field"], "additionalProperties": false}},
  "properties": {
    "query": {"type": "string", "minLength": 1},
    "limit": {"type": "integer", "minimum": 1, "maximum": 50},
    "mode": {"enum": ["fast", "full"]},
    "filter": {"$ref": "#/$defs/filter"}
  },
  "required": ["query"],
  "additionalProperties": false
}`

type echoArgs struct {
	Text string `json:"text"`
}

// NewUpstream starts the upstream; stateless serves the 2026-07-28 era
// and session-less legacy requests.
func NewUpstream(t testing.TB, stateless bool) *Upstream {
	t.Helper()
	u := &Upstream{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1.0.0"}, nil)
	text := func(s string) *mcp.CallToolResult {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
	}
	for _, name := range []string{"echo", "admin_delete", "admin_list", "get_weather"} {
		mcp.AddTool(srv, &mcp.Tool{Name: name, Description: name + " tool"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
			u.count(name)
			return text(a.Text), nil, nil
		})
	}
	srv.AddTool(&mcp.Tool{Name: "search", Description: "searches", InputSchema: json.RawMessage(SearchSchema)}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		u.count("search")
		return text("found: " + string(req.Params.Arguments)), nil
	})
	srv.AddTool(&mcp.Tool{Name: "remote_ref", Description: "has a network $ref", InputSchema: json.RawMessage(`{"type":"object","properties":{"x":{"$ref":"https://example.com/schemas/x.json"}}}`)}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		u.count("remote_ref")
		return text("ran"), nil
	})
	for _, name := range []string{"greet", "secret_prompt"} {
		srv.AddPrompt(&mcp.Prompt{Name: name, Description: name}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello from " + name}}}}, nil
		})
	}
	for _, uri := range []string{"test://public/readme", "test://private/keys"} {
		srv.AddResource(&mcp.Resource{URI: uri, Name: uri, MIMEType: "text/plain"}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "contents of " + req.Params.URI}}}, nil
		})
	}
	for _, tmpl := range []string{"test://public/{name}", "test://private/{name}"} {
		srv.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: tmpl, Name: tmpl}, func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: "templated " + req.Params.URI}}}, nil
		})
	}
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: stateless}))
	t.Cleanup(ts.Close)
	u.URL = ts.URL
	return u
}

type principalKey struct{}

// Test identity headers: the test edge turns them into the Principal, as
// the bearer-token middleware does in production.
const (
	HeaderSubject = "X-Test-Subject"
	HeaderClient  = "X-Test-Client"
	HeaderScopes  = "X-Test-Scopes" // space-separated
	HeaderGroups  = "X-Test-Groups" // space-separated
	HeaderClaims  = "X-Test-Claims" // a JSON object of string arrays
)

// Options builds the gateway of a test.
type Options struct {
	// Middleware are the policies, outermost first.
	Middleware []gateway.Middleware
	// Keyring, if set, is shared (replicas serving the same sessions).
	Keyring *session.Keyring
	// Wrap, if set, wraps the gateway's handler (an HTTP-edge policy).
	Wrap func(http.Handler) http.Handler
	// UpstreamEra is what the upstream is said to speak (zero: probe).
	UpstreamEra gateway.UpstreamEra
	// ToolsTTL and Now are the gateway's (zero: its defaults).
	ToolsTTL time.Duration
	Now      func() time.Time
}

// NewGateway starts a gateway for route "everything" in front of
// upstreamURL.
func NewGateway(t testing.TB, upstreamURL string, opts Options) *httptest.Server {
	t.Helper()
	up, err := remote.New(remote.Options{URL: upstreamURL})
	if err != nil {
		t.Fatal(err)
	}
	return NewGatewayFor(t, up, opts)
}

// NewStdioUpstream returns a local upstream running command (with the
// extra environment env) over stdio: a pool for legacy sessions and a
// process per principal for 2026-07-28 requests, as the app builds them.
func NewStdioUpstream(t testing.TB, command, env []string) upstream.Upstream {
	t.Helper()
	sessions, err := stdio.New(stdio.Options{Name: "everything", Command: command, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	stateless, err := stdio.New(stdio.Options{Name: "everything", Command: command, Env: env, Isolation: stdio.PerSession})
	if err != nil {
		t.Fatal(err)
	}
	up, err := local.New(local.Options{Sessions: sessions, Stateless: stateless})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = up.Close(context.Background()) })
	return up
}

// NewGatewayFor starts a gateway for route "everything" in front of up.
func NewGatewayFor(t testing.TB, up upstream.Upstream, opts Options) *httptest.Server {
	t.Helper()
	kr := opts.Keyring
	if kr == nil {
		kr, _ = session.NewKeyring(session.GenerateSecret())
	}
	g, err := gateway.New(gateway.Options{
		Route: "everything", Upstream: up, UpstreamEra: opts.UpstreamEra, Keyring: kr, Middleware: opts.Middleware,
		ToolsTTL: opts.ToolsTTL, Now: opts.Now,
		Principal: func(ctx context.Context) *gateway.Principal {
			p, _ := ctx.Value(principalKey{}).(*gateway.Principal)
			return p
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sub := r.Header.Get(HeaderSubject); sub != "" {
			p := &gateway.Principal{Issuer: "https://issuer.test", Subject: sub, ClientID: r.Header.Get(HeaderClient), Scopes: strings.Fields(r.Header.Get(HeaderScopes)),
				Groups: strings.Fields(r.Header.Get(HeaderGroups))}
			if c := r.Header.Get(HeaderClaims); c != "" {
				if err := json.Unmarshal([]byte(c), &p.Claims); err != nil {
					http.Error(w, "bad "+HeaderClaims, http.StatusBadRequest)
					return
				}
			}
			r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
		}
		g.ServeHTTP(w, r)
	})
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// headerTransport adds fixed headers to every request.
type headerTransport struct {
	h    http.Header
	base http.RoundTripper
}

func (t *headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

// Client returns an HTTP client that sends h with every request and
// reaches the gateway through base (nil: a fresh transport of its own).
func Client(h http.Header, base http.RoundTripper) *http.Client {
	if base == nil {
		base = &http.Transport{}
	}
	return &http.Client{Transport: &headerTransport{h: h, base: base}}
}

// Identity returns headers naming a caller for the test edge.
func Identity(subject, client string, scopes ...string) http.Header {
	return http.Header{HeaderSubject: {subject}, HeaderClient: {client}, HeaderScopes: {strings.Join(scopes, " ")}}
}

// Connect opens a go-sdk client session to url in era e.
func Connect(t testing.TB, url string, e Era, hc *http.Client) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "policy-test", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, DisableStandaloneSSE: true}
	var opts *mcp.ClientSessionOptions
	if e.Version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: e.Version}
	}
	cs, err := c.Connect(context.Background(), tr, opts)
	if err != nil {
		t.Fatalf("connect (%s): %v", e.Name, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// ToolNames lists the tools a session sees.
func ToolNames(t testing.TB, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// Text returns the text of a tool result's first content block.
func Text(res *mcp.CallToolResult) string {
	if res == nil || len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

// Alternating returns a transport that sends each request to the next of
// several gateway base URLs (replicas behind a round-robin balancer).
func Alternating(urls ...string) http.RoundTripper {
	return &alternating{urls: urls, base: &http.Transport{}}
}

type alternating struct {
	urls []string
	n    atomic.Int64
	base http.RoundTripper
}

func (a *alternating) RoundTrip(r *http.Request) (*http.Response, error) {
	u := a.urls[a.n.Add(1)%int64(len(a.urls))]
	r = r.Clone(r.Context())
	r.URL.Host = strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	r.Host = r.URL.Host
	return a.base.RoundTrip(r)
}

// Naive is an MCP server of the 2025-11-25 era (no sessions, JSON
// answers) that reads params the way Go's encoding/json does: member
// names match case-insensitively, so {"Name": "x"} names tool x. It
// records every tool, prompt and resource a call reached.
type Naive struct {
	URL     string
	mu      sync.Mutex
	reached []string
}

// Reached returns "method target" for every call the server served.
func (n *Naive) Reached() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.reached...)
}

// NewNaive starts a Naive server offering tools echo and delete_user,
// prompt secret_prompt and resource test://private/keys.
func NewNaive(t testing.TB) *Naive {
	t.Helper()
	n := &Naive{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		var req struct {
			ID     json.RawMessage
			Method string
			Params struct {
				ProtocolVersion string
				Name, URI       string
			}
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if req.ID == nil {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		var result any
		switch req.Method {
		case "initialize":
			result = map[string]any{"protocolVersion": req.Params.ProtocolVersion, "serverInfo": map[string]string{"name": "naive", "version": "1"},
				"capabilities": map[string]any{"tools": map[string]any{}, "prompts": map[string]any{}, "resources": map[string]any{}}}
		case "tools/list":
			result = map[string]any{"tools": []map[string]any{
				{"name": "echo", "inputSchema": map[string]string{"type": "object"}},
				{"name": "delete_user", "inputSchema": map[string]string{"type": "object"}}}}
		case "tools/call", "prompts/get", "resources/read":
			target := req.Params.Name
			if req.Method == "resources/read" {
				target = req.Params.URI
			}
			n.mu.Lock()
			n.reached = append(n.reached, req.Method+" "+target)
			n.mu.Unlock()
			switch req.Method {
			case "tools/call":
				result = map[string]any{"content": []map[string]string{{"type": "text", "text": "ran " + target}}}
			case "prompts/get":
				result = map[string]any{"messages": []map[string]any{{"role": "user", "content": map[string]string{"type": "text", "text": target}}}}
			default:
				result = map[string]any{"contents": []map[string]string{{"uri": target, "text": "secret"}}}
			}
		default:
			result = map[string]any{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
	}))
	t.Cleanup(ts.Close)
	n.URL = ts.URL
	return n
}

// Post sends one JSON-RPC message to a gateway, as a 2025-11-25 client in
// session sid ("" for none), with identity headers h, and returns the
// status, the Mcp-Session-Id answered and the body.
func Post(t testing.TB, url, sid string, h http.Header, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), b
}

// Initialize opens a 2025-11-25 session on a gateway and returns its id.
func Initialize(t testing.TB, url string, h http.Header) string {
	t.Helper()
	st, sid, b := Post(t, url, "", h, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if st != http.StatusOK || sid == "" {
		t.Fatalf("initialize: %d %s", st, b)
	}
	Post(t, url, sid, h, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return sid
}
