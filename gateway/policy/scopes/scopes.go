package scopes

import (
	"context"
	"net/http"
	"sort"
	"strings"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/resourceserver"
)

// Rule requires Scopes of a caller whose target matches Pattern: an exact
// name or URI, or a glob where "*" matches any run of characters and "?"
// one character.
type Rule struct {
	Pattern string
	Scopes  []string
}

// Options configures the policy. The zero value requires nothing.
type Options struct {
	// Methods maps an MCP method to the scopes it needs.
	Methods map[string][]string
	// Tools, Prompts and Resources add the scopes needed to call a
	// given tool, get a prompt or read a resource. Every matching rule
	// applies.
	Tools, Prompts, Resources []Rule
	// ResourceMetadata is the route's RFC 9728 metadata URL, sent in
	// challenges.
	ResourceMetadata string
}

type policy struct {
	o Options
}

// New returns the policy as a gateway middleware.
func New(o Options) gateway.Middleware {
	p := &policy{o: o}
	return p.wrap
}

func (p *policy) wrap(next gateway.Handler) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Msg.Kind != jsonrpc.KindRequest || c.Principal == nil {
			// Open routes have no principal; notifications and responses
			// carry no new authority.
			return next(ctx, c)
		}
		if err := requireTarget(c); err != nil {
			return nil, err
		}
		need := p.required(c)
		if missing := resourceserver.MissingScopes(c.Principal.Scopes, need); len(missing) > 0 {
			return nil, p.refuse(need)
		}
		reply, err := next(ctx, c)
		if err != nil {
			return nil, err
		}
		rules, field := p.listRules(c.Msg.Method)
		if rules == nil {
			return reply, nil
		}
		granted := c.Principal.Scopes
		return gateway.TransformReply(reply, func(data []byte) ([]byte, error) {
			return filterList(data, field, rules, granted)
		}), nil
	}
}

// requireTarget refuses a call whose params lack the string member naming
// its target: a rule matched against an absent name checks nothing, while
// an upstream that matches member names case-insensitively (Go's
// encoding/json) reads {"Name": "delete_user"} as the name. Member names
// are case-sensitive in JSON-RPC 2.0 and MCP.
func requireTarget(c *gateway.Call) error {
	member, has := "", true
	switch c.Msg.Method {
	case mcp.MethodToolsCall, mcp.MethodPromptsGet:
		member, has = "name", c.Params.HasName
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe:
		member, has = "uri", c.Params.HasURI
	}
	if has {
		return nil
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "Invalid params: params." + member + " is required for " + c.Msg.Method}
}

// required is every scope the call needs: the method's and those of every
// rule its target matches.
func (p *policy) required(c *gateway.Call) []string {
	need := append([]string(nil), p.o.Methods[c.Msg.Method]...)
	var rules []Rule
	target := ""
	switch c.Msg.Method {
	case mcp.MethodToolsCall:
		rules, target = p.o.Tools, c.Params.Name
	case mcp.MethodPromptsGet:
		rules, target = p.o.Prompts, c.Params.Name
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe:
		rules, target = p.o.Resources, c.Params.URI
	}
	for _, r := range rules {
		if Match(r.Pattern, target) {
			need = append(need, r.Scopes...)
		}
	}
	return dedupe(need)
}

func dedupe(s []string) []string {
	if len(s) < 2 {
		return s
	}
	sort.Strings(s)
	out := s[:1]
	for _, x := range s[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}

// refuse is the step-up answer: 403 with every needed scope in one
// challenge, so the client asks for them all at once.
func (p *policy) refuse(need []string) error {
	ch := resourceserver.Challenge{Error: resourceserver.InsufficientScope, Scopes: need, ResourceMetadata: p.o.ResourceMetadata,
		Description: "the token lacks a scope this call needs"}
	return &gateway.Error{
		Status: http.StatusForbidden,
		Header: http.Header{"Www-Authenticate": {ch.String()}},
		RPC:    jsonrpc.NewError(jsonrpc.CodeForbidden, "insufficient scope: this call needs "+strings.Join(need, " ")),
	}
}

func (p *policy) listRules(method string) ([]Rule, string) {
	switch method {
	case mcp.MethodToolsList:
		return nonNil(p.o.Tools), "tools"
	case mcp.MethodPromptsList:
		return nonNil(p.o.Prompts), "prompts"
	case mcp.MethodResourcesList:
		return nonNil(p.o.Resources), "resources"
	}
	return nil, ""
}

func nonNil(r []Rule) []Rule {
	if len(r) == 0 {
		return nil
	}
	return r
}

// filterList removes from a list result the entries the granted scopes do
// not cover.
func filterList(data []byte, field string, rules []Rule, granted []string) ([]byte, error) {
	m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
	if err != nil || m.Kind != jsonrpc.KindResponse || m.Result == nil {
		return data, nil
	}
	list, ok := jsonx.Get(m.Result, field)
	if !ok {
		return data, nil
	}
	key := "name"
	if field == "resources" {
		key = "uri"
	}
	out := []byte{'['}
	n := 0
	dropped := false
	err = jsonx.WalkArray(list, func(item []byte) bool {
		v, _ := jsonx.Get(item, key)
		target, _ := jsonx.String(v)
		var need []string
		for _, r := range rules {
			if Match(r.Pattern, target) {
				need = append(need, r.Scopes...)
			}
		}
		if resourceserver.MissingScopes(granted, need) != nil {
			dropped = true
			return true
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, item...)
		n++
		return true
	})
	if err != nil || !dropped {
		return data, nil
	}
	out = append(out, ']')
	res, err := jsonx.Set(m.Result, field, out)
	if err != nil {
		return data, nil
	}
	return jsonrpc.AppendResult(nil, m.ID, res), nil
}

// Match reports whether name matches the glob pattern: "*" matches any run
// of characters (slashes included), "?" exactly one; everything else
// matches itself.
func Match(pattern, name string) bool {
	px, nx := 0, 0
	starP, starN := -1, 0
	for nx < len(name) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			starP, starN = px, nx
			px++
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == name[nx]):
			px++
			nx++
		case starP >= 0:
			px = starP + 1
			starN++
			nx = starN
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
