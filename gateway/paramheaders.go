package gateway

import (
	"context"
	"math/big"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// paramHeader is one x-mcp-header annotation of a tool's inputSchema: the
// header it names and the chain of properties keys leading to the value
// (2026-07-28 streamable-http "Custom Headers from Tool Parameters").
type paramHeader struct {
	header string // canonical "Mcp-Param-<Name>"
	path   []string
}

// toolHeaders caches, per route, which tools mirror which arguments into
// headers. It is filled from tools/list results and refreshed when stale.
type toolHeaders struct {
	mu      sync.Mutex
	tools   map[string][]paramHeader
	fetched time.Time
	ttl     time.Duration
}

func newToolHeaders() *toolHeaders {
	return &toolHeaders{tools: map[string][]paramHeader{}, ttl: 5 * time.Minute}
}

// learn records the annotations of every tool in a tools/list result.
func (t *toolHeaders) learn(result []byte, now time.Time) {
	tools, ok := jsonx.Get(result, "tools")
	if !ok {
		return
	}
	found := map[string][]paramHeader{}
	_ = jsonx.WalkArray(tools, func(tool []byte) bool {
		nameRaw, _ := jsonx.Get(tool, "name")
		name, ok := jsonx.String(nameRaw)
		if !ok {
			return true
		}
		schema, _ := jsonx.Get(tool, "inputSchema")
		found[name] = collectHeaders(schema, nil, nil, 0)
		return true
	})
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range found {
		t.tools[k] = v
	}
	t.fetched = now
}

// collectHeaders walks properties chains only, as x-mcp-header may sit
// only on statically reachable properties.
func collectHeaders(schema []byte, path []string, out []paramHeader, depth int) []paramHeader {
	if depth > 16 || !jsonx.IsObject(schema) {
		return out
	}
	props, ok := jsonx.Get(schema, "properties")
	if !ok || !jsonx.IsObject(props) {
		return out
	}
	_ = jsonx.WalkObject(props, func(k string, sub []byte) bool {
		p := append(append([]string(nil), path...), k)
		if h, ok := jsonx.Get(sub, "x-mcp-header"); ok {
			if name, ok := jsonx.String(h); ok && name != "" {
				out = append(out, paramHeader{header: http.CanonicalHeaderKey(mcp.HeaderParamPrefix + name), path: p})
			}
		}
		out = collectHeaders(sub, p, out, depth+1)
		return true
	})
	return out
}

func (t *toolHeaders) lookup(tool string, now time.Time) (hs []paramHeader, known, fresh bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	hs, known = t.tools[tool]
	return hs, known, now.Sub(t.fetched) < t.ttl
}

// paramHeadersFor returns the annotations of a tool, fetching tools/list
// through the upstream when the tool is unknown or the cache is stale.
func (g *Gateway) paramHeadersFor(ctx context.Context, c *Call) ([]paramHeader, bool) {
	now := g.now()
	hs, known, fresh := g.headers.lookup(c.Params.Name, now)
	if known && fresh {
		return hs, true
	}
	cursor := ""
	for page := 0; page < 20; page++ {
		params := []byte(`{}`)
		if cursor != "" {
			params, _ = jsonx.Set(params, "cursor", jsonx.Quote(cursor))
		}
		d, err := c.Derive(jsonrpc.StringID("mcpfort-tools-"+strconv.Itoa(page)), mcp.MethodToolsList, params)
		if err != nil {
			break
		}
		reply, err := g.dispatch(ctx, d)
		if err != nil {
			break
		}
		res, err := finalResult(ctx, reply)
		if err != nil {
			break
		}
		g.headers.learn(res, now)
		next, _ := jsonx.Get(res, "nextCursor")
		var ok bool
		if cursor, ok = jsonx.String(next); !ok || cursor == "" {
			break
		}
	}
	hs, known, _ = g.headers.lookup(c.Params.Name, now)
	return hs, known
}

// checkParamHeaders validates the Mcp-Param-* headers of a tools/call
// against its arguments: a value present in the body needs its header, and
// the header, decoded, must equal it (streamable-http "Server Behavior for
// Custom Headers": otherwise 400 with -32020).
func (g *Gateway) checkParamHeaders(ctx context.Context, c *Call) *jsonrpc.Error {
	hs, known := g.paramHeadersFor(ctx, c)
	if !known || len(hs) == 0 {
		return nil
	}
	args, _ := jsonx.Get(c.Msg.Params, "arguments")
	for _, ph := range hs {
		v, present := valueAt(args, ph.path)
		vals := c.Header.Values(ph.header)
		for _, hv := range vals {
			if _, err := mcp.DecodeHeaderValue(hv); err != nil {
				return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: "+ph.header+" header has invalid characters or encoding")
			}
		}
		if !present || jsonx.IsNull(v) {
			continue
		}
		if len(vals) != 1 {
			return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: "+ph.header+" header is required when the argument is present")
		}
		got, err := mcp.DecodeHeaderValue(vals[0])
		if err != nil {
			return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: "+ph.header+" header has invalid characters or encoding")
		}
		if !headerMatches(got, v) {
			return jsonrpc.NewError(jsonrpc.CodeHeaderMismatch, "Header mismatch: "+ph.header+" header does not match the argument")
		}
	}
	return nil
}

func valueAt(obj []byte, path []string) ([]byte, bool) {
	for _, k := range path {
		if !jsonx.IsObject(obj) {
			return nil, false
		}
		var ok bool
		if obj, ok = jsonx.Get(obj, k); !ok {
			return nil, false
		}
	}
	return obj, true
}

// headerMatches compares a decoded header value with a primitive argument:
// strings as they are, booleans as "true"/"false", integers numerically
// (streamable-http "Server Validation": 42.0 and 42 are equal).
func headerMatches(h string, v []byte) bool {
	if s, ok := jsonx.String(v); ok {
		return s == h
	}
	switch string(v) {
	case "true", "false":
		return h == string(v)
	}
	a, ok1 := new(big.Float).SetString(h)
	b, ok2 := new(big.Float).SetString(string(v))
	return ok1 && ok2 && a.Cmp(b) == 0
}

// remirror recomputes the Mcp-Param-* headers of a tools/call from its
// (rewritten) arguments.
func (g *Gateway) remirror(ctx context.Context, c *Call) {
	hs, known := g.paramHeadersFor(ctx, c)
	if !known || len(hs) == 0 {
		return
	}
	params, _ := jsonx.Get(c.Body(), "params")
	args, _ := jsonx.Get(params, "arguments")
	fwd := make(http.Header, len(c.fwd))
	for k, v := range c.fwd {
		fwd[k] = v
	}
	for _, ph := range hs {
		v, ok := valueAt(args, ph.path)
		if !ok || jsonx.IsNull(v) {
			delete(fwd, ph.header)
			continue
		}
		s, isString := jsonx.String(v)
		if !isString {
			s = string(v) // an integer or a boolean, as its JSON text
		}
		fwd[ph.header] = []string{mcp.EncodeHeaderValue(s)}
	}
	c.fwd = fwd
}
