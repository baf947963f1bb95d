package gateway

import (
	"context"
	"math/big"
	"net/http"

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

// paramHeadersFor returns the x-mcp-header annotations of the called
// tool from the route's catalog; known is false when the upstream does not
// list the tool.
func (g *Gateway) paramHeadersFor(ctx context.Context, c *Call) (hs []paramHeader, known bool, err error) {
	list, err := c.Tools(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		g.log.Warn("could not list the upstream's tools to check Mcp-Param headers", "err", err)
		return nil, false, errToolsUnknown
	}
	t, ok := list.Tool(c.Params.Name)
	if !ok {
		return nil, false, nil
	}
	return t.headers, true, nil
}

// errToolsUnknown answers a call whose header checks need a tool list the
// upstream did not give; the cause is logged, never sent.
var errToolsUnknown = &jsonrpc.Error{Code: jsonrpc.CodeUpstreamUnavailable, Message: "the gateway could not learn the tools of the upstream server to check this call"}

// checkParamHeaders validates the Mcp-Param-* headers of a tools/call
// against its arguments: a value present in the body needs its header, and
// the header, decoded, must equal it (streamable-http "Server Behavior for
// Custom Headers": otherwise 400 with -32020). When the tools cannot be
// listed it returns that error: the gateway cannot tell which headers the
// call must carry, and forwards nothing it has not checked.
func (g *Gateway) checkParamHeaders(ctx context.Context, c *Call) error {
	hs, known, err := g.paramHeadersFor(ctx, c)
	if err != nil || !known || len(hs) == 0 {
		return err
	}
	args := c.Params.Arguments
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
// (rewritten) arguments. When the tools cannot be listed it returns that
// error rather than forward headers that may still carry the values the
// rewrite removed.
func (g *Gateway) remirror(ctx context.Context, c *Call) error {
	hs, known, err := g.paramHeadersFor(ctx, c)
	if err != nil || !known || len(hs) == 0 {
		return err
	}
	args := c.Params.Arguments // of the rewritten message: SetBody read it again
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
	return nil
}
