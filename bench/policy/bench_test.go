// Package policybench measures what the gateway policies cost per call:
// each policy alone and the rate limit + tool filter + schema chain on a
// typical tools/call, list filtering, the security headers, and a whole
// gateway request with and without the chain. See README.md for results
// and the command.
package policybench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/headers"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit/redisstore"
	"github.com/mcpfort/mcpfort/gateway/policy/schema"
	"github.com/mcpfort/mcpfort/gateway/policy/toolfilter"
	"github.com/mcpfort/mcpfort/gateway/session"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	redisstate "github.com/mcpfort/mcpfort/storage/redis"
)

// searchSchema is a typical tool: a handful of typed properties, a $ref to
// a definition, bounds, an enum, additionalProperties false.
const searchSchema = `{"type":"object","$defs":{"filter":{"type":"object","properties":{"field":{"type":"string"},"value":{"type":"string","maxLength":64}},"required":["field"],"additionalProperties":false}},"properties":{"query":{"type":"string","minLength":1,"maxLength":500},"limit":{"type":"integer","minimum":1,"maximum":50},"mode":{"enum":["fast","full"]},"filter":{"$ref":"#/$defs/filter"}},"required":["query"],"additionalProperties":false}`

const callParams = `{"name":"search","arguments":{"query":"open issues about rate limits","limit":10,"mode":"fast","filter":{"field":"label","value":"bug"}},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}`

var principal = &gateway.Principal{Issuer: "https://as.example.com", Subject: "user-1234", ClientID: "https://client.example.com/cimd.json", Scopes: []string{"mcp:tools", "search"}}

func toolsList(n int) []byte {
	var tools []string
	for i := range n {
		name := fmt.Sprintf("tool_%02d", i)
		if i%7 == 3 {
			name = fmt.Sprintf("admin_%02d", i)
		}
		tools = append(tools, fmt.Sprintf(`{"name":%q,"description":"does thing %d","inputSchema":{"type":"object","properties":{"x":{"type":"string"}}}}`, name, i))
	}
	tools = append(tools, `{"name":"search","description":"searches","inputSchema":`+searchSchema+`}`)
	return []byte(`{"tools":[` + strings.Join(tools, ",") + `]}`)
}

// terminal is the end of the plane in the micro-benchmarks: a fixed
// result, as an upstream would answer.
func terminal(list []byte) gateway.Handler {
	call := []byte(`{"content":[{"type":"text","text":"3 results"}]}`)
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Msg.Method == mcp.MethodToolsList {
			return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, list)), nil
		}
		return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, call)), nil
	}
}

func newCall(b *testing.B, method, params string) *gateway.Call {
	b.Helper()
	m, err := jsonrpc.Decode(jsonrpc.AppendRequest(nil, jsonrpc.Int64ID(42), method, []byte(params)), jsonrpc.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	p, err := mcp.ParseParams(m.Params)
	if err != nil {
		b.Fatal(err)
	}
	// The catalog lists through the fixed upstream, as a gateway's lists
	// through its own innermost handler.
	cat := gateway.NewCatalog(terminal(toolsList(20)), gateway.CatalogOptions{TTL: time.Hour})
	return &gateway.Call{Route: "github", Era: mcp.EraModern, Version: mcp.Version20260728, Principal: principal, Msg: m, Params: p, Catalog: cat}
}

// rules never refuse in the benchmarks (the burst is out of reach), so
// every call pays the full check.
var rules = []ratelimit.Rule{
	{Name: "per-user", By: []ratelimit.Dimension{ratelimit.BySubject, ratelimit.ByServer}, Limit: 1_000_000, Period: time.Second, Burst: 1 << 40},
	{Name: "per-user-tool", By: []ratelimit.Dimension{ratelimit.BySubject, ratelimit.ByTool}, Limit: 1_000_000, Period: time.Second, Burst: 1 << 40},
}

func newLimiter(b *testing.B, store ratelimit.Store) gateway.Middleware {
	l, err := ratelimit.New(ratelimit.Options{Rules: rules, Costs: []ratelimit.Cost{{Tool: "export_*", Cost: 10}}, Store: store})
	if err != nil {
		b.Fatal(err)
	}
	return l.Wrap
}

func newFilter(b *testing.B) gateway.Middleware {
	f, err := toolfilter.New(toolfilter.Options{
		Tools:  toolfilter.Rules{Deny: []string{"*_delete", "debug_*"}},
		Scopes: map[string]toolfilter.Scoped{"admin": {Tools: toolfilter.Rules{Allow: []string{"admin_*"}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return f.Wrap
}

func newValidator(b *testing.B) gateway.Middleware {
	v, err := schema.New(schema.Options{Constraints: []schema.ToolConstraints{{Tool: "search", Args: []schema.Constraint{
		{Path: "/query", MaxLength: 200, DenyPattern: `(?i)drop\s+table`},
		{Path: "/filter/field", Enum: []any{"label", "author", "state"}},
	}}}})
	if err != nil {
		b.Fatal(err)
	}
	return v.Wrap
}

func chain(h gateway.Handler, mws ...gateway.Middleware) gateway.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// runCall measures one tools/call through h, reading the reply to the end
// as the gateway would.
func runCall(b *testing.B, h gateway.Handler, c *gateway.Call) {
	b.Helper()
	ctx := context.Background()
	// Warm up: the schema policy learns and compiles on the first call.
	if _, err := gateway.FinalResult(ctx, mustReply(b, h, ctx, c)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := h(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		drain(ctx, r)
	}
}

func mustReply(b *testing.B, h gateway.Handler, ctx context.Context, c *gateway.Call) upstream.Reply {
	r, err := h(ctx, c)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func drain(ctx context.Context, r upstream.Reply) {
	for {
		if _, err := r.Next(ctx); err != nil {
			break
		}
	}
	r.Close()
}

func BenchmarkToolsCall(b *testing.B) {
	list := toolsList(20)
	b.Run("baseline", func(b *testing.B) {
		runCall(b, terminal(list), newCall(b, mcp.MethodToolsCall, callParams))
	})
	b.Run("ratelimit-local", func(b *testing.B) {
		store, _ := ratelimit.NewLocal(ratelimit.LocalOptions{})
		runCall(b, chain(terminal(list), newLimiter(b, store)), newCall(b, mcp.MethodToolsCall, callParams))
	})
	b.Run("ratelimit-redis", func(b *testing.B) {
		store := redisStore(b)
		runCall(b, chain(terminal(list), newLimiter(b, store)), newCall(b, mcp.MethodToolsCall, callParams))
	})
	b.Run("toolfilter", func(b *testing.B) {
		runCall(b, chain(terminal(list), newFilter(b)), newCall(b, mcp.MethodToolsCall, callParams))
	})
	b.Run("schema", func(b *testing.B) {
		runCall(b, chain(terminal(list), newValidator(b)), newCall(b, mcp.MethodToolsCall, callParams))
	})
	b.Run("chain", func(b *testing.B) {
		store, _ := ratelimit.NewLocal(ratelimit.LocalOptions{})
		runCall(b, chain(terminal(list), newLimiter(b, store), newFilter(b), newValidator(b)), newCall(b, mcp.MethodToolsCall, callParams))
	})
	b.Run("chain-parallel", func(b *testing.B) {
		store, _ := ratelimit.NewLocal(ratelimit.LocalOptions{})
		h := chain(terminal(list), newLimiter(b, store), newFilter(b), newValidator(b))
		c := newCall(b, mcp.MethodToolsCall, callParams)
		ctx := context.Background()
		drain(ctx, mustReply(b, h, ctx, c))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r, err := h(ctx, c)
				if err != nil {
					b.Error(err)
					return
				}
				drain(ctx, r)
			}
		})
	})
}

// BenchmarkToolsList measures list filtering on a 21-tool tools/list
// result, and the route's tool catalog reading the same list (what a
// listing costs the gateway once per caller and TTL).
func BenchmarkToolsList(b *testing.B) {
	list := toolsList(20)
	b.Run("baseline", func(b *testing.B) {
		runCall(b, terminal(list), newCall(b, mcp.MethodToolsList, `{}`))
	})
	b.Run("toolfilter", func(b *testing.B) {
		runCall(b, chain(terminal(list), newFilter(b)), newCall(b, mcp.MethodToolsList, `{}`))
	})
	b.Run("catalog-listing", func(b *testing.B) {
		k := gateway.NewCatalog(terminal(list), gateway.CatalogOptions{})
		c := newCall(b, mcp.MethodToolsCall, callParams)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			k.Invalidate()
			if _, err := k.List(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func redisStore(b *testing.B) ratelimit.Store {
	buf := make([]byte, 6)
	rand.Read(buf)
	rdb, err := redisstate.NewClient(redisstate.ClientOptions{URL: "redis://127.0.0.1:6379/0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rdb.Close() })
	s, err := redisstore.New(rdb, redisstore.Options{KeyPrefix: "mcpfort-bench:" + hex.EncodeToString(buf) + ":"})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Ping(context.Background()); err != nil {
		b.Skipf("redis: %v", err)
	}
	return s
}

func BenchmarkHeaders(b *testing.B) {
	h, err := headers.New(headers.Options{})
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"jsonrpc":"2.0","id":1,"result":{}}`)
	handler := h.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	r := httptest.NewRequest("POST", "/mcp", nil)
	r.Header.Set("Authorization", "Bearer x")
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
	}
}

// fixedUpstream answers every POST at once with a fixed result, so that
// the gateway benchmarks measure the gateway, not an MCP server.
type fixedUpstream struct{ list []byte }

func (u fixedUpstream) Post(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	m, err := req.Message()
	if err != nil {
		return nil, err
	}
	if m.Method == mcp.MethodToolsList {
		return upstream.Message(jsonrpc.AppendResult(nil, m.ID, u.list)), nil
	}
	return upstream.Message(jsonrpc.AppendResult(nil, m.ID, []byte(`{"resultType":"complete","content":[{"type":"text","text":"3 results"}]}`))), nil
}
func (fixedUpstream) Get(context.Context, *upstream.Request) (upstream.Reply, error) {
	return nil, upstream.ErrNotSupported
}
func (fixedUpstream) Delete(context.Context, *upstream.Request) error { return nil }
func (fixedUpstream) Close(context.Context) error                     { return nil }

// BenchmarkGateway serves a 2026-07-28 tools/call through a whole gateway
// (ServeHTTP: header checks, envelope decode, plane, reply write), with no
// policy and with the chain, so the chain's cost reads beside the
// gateway's own.
func BenchmarkGateway(b *testing.B) {
	kr, _ := session.NewKeyring(session.GenerateSecret())
	body := `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":` + callParams + `}`
	for _, withChain := range []bool{false, true} {
		name := "passthrough"
		if withChain {
			name = "with-chain"
		}
		b.Run(name, func(b *testing.B) {
			var mws []gateway.Middleware
			if withChain {
				store, _ := ratelimit.NewLocal(ratelimit.LocalOptions{})
				mws = []gateway.Middleware{newLimiter(b, store), newFilter(b), newValidator(b)}
			}
			g, err := gateway.New(gateway.Options{Route: "github", Upstream: fixedUpstream{list: toolsList(20)}, Keyring: kr, UpstreamEra: gateway.EraModern, Middleware: mws,
				Principal: func(ctx context.Context) *gateway.Principal { return principal }})
			if err != nil {
				b.Fatal(err)
			}
			serve := func() *httptest.ResponseRecorder {
				r := httptest.NewRequest("POST", "http://127.0.0.1/github/mcp", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Accept", "application/json, text/event-stream")
				r.Header.Set("Mcp-Protocol-Version", "2026-07-28")
				r.Header.Set("Mcp-Method", "tools/call")
				r.Header.Set("Mcp-Name", "search")
				w := httptest.NewRecorder()
				g.ServeHTTP(w, r)
				return w
			}
			if w := serve(); w.Code != 200 || !strings.Contains(w.Body.String(), "3 results") {
				b.Fatalf("%d %s", w.Code, w.Body)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				serve()
			}
		})
	}
}
