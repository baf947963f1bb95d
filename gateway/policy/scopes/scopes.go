package scopes

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/servermsg"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/resourceserver"
)

// Requirement is what a call demands of its caller: every scope in Scopes
// and, when they are set, membership in at least one of Groups and, for
// each claim in Claims, one of the values listed for it. Groups and claims
// come from the token (gateway.Principal.Groups and Claims), so the groups
// of an external identity provider work as well as the embedded
// authorization server's.
type Requirement struct {
	Scopes []string
	Groups []string
	Claims map[string][]string
}

// Rule applies a requirement to a caller whose target matches Pattern: an
// exact name or URI, or a glob where "*" matches any run of characters and
// "?" one character.
type Rule struct {
	Pattern string
	Scopes  []string
	Groups  []string
	Claims  map[string][]string
}

// Options configures the policy. The zero value requires nothing.
type Options struct {
	// Methods maps an MCP method to what it needs.
	Methods map[string]Requirement
	// Tools, Prompts and Resources add what calling a given tool, getting
	// a prompt or reading a resource needs. Every matching rule applies.
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
		if c.Principal == nil {
			// Open routes have no principal.
			return next(ctx, c)
		}
		if c.Stream {
			// A legacy session's GET stream: the server's own messages,
			// or the rest of an earlier stream, whose responses answer
			// requests this call does not name.
			return p.filtered(ctx, next, c, "", true)
		}
		if c.Msg.Kind != jsonrpc.KindRequest {
			// Notifications and responses carry no new authority.
			return next(ctx, c)
		}
		if err := requireTarget(c); err != nil {
			return nil, err
		}
		need, who, err := p.required(c)
		if err != nil {
			return nil, err
		}
		// Who the caller is first: a token with more scopes would not
		// change it, so a step-up challenge would only waste a round
		// trip.
		if !who.allows(c.Principal) {
			return nil, forbidden()
		}
		if missing := resourceserver.MissingScopes(c.Principal.Scopes, need); len(missing) > 0 {
			return nil, p.refuse(need)
		}
		return p.filtered(ctx, next, c, c.Msg.Method, false)
	}
}

// filtered forwards a request (or opens a stream) and removes from what
// comes back what the principal may not use: the entries of the result of
// list method method it may not use, every notifications/resources/updated
// about a resource a matching rule denies it, and, on a stream (resumed,
// so that its responses answer requests this call does not name), the
// denied entries of any list result by its shape. See package servermsg
// for what each server message names.
func (p *policy) filtered(ctx context.Context, next gateway.Handler, c *gateway.Call, method string, stream bool) (upstream.Reply, error) {
	reply, err := next(ctx, c)
	if err != nil {
		return nil, err
	}
	type list struct {
		rules []Rule
		field string
	}
	var lists []list
	for _, l := range servermsg.Lists {
		if !stream && l.Method != method {
			continue
		}
		if rules, field := p.listRules(l.Method); rules != nil {
			lists = append(lists, list{rules, field})
		}
	}
	updates := len(p.o.Resources) > 0
	if len(lists) == 0 && !updates {
		return reply, nil
	}
	pr := c.Principal
	return gateway.TransformReply(reply, func(ev *upstream.Event) ([]byte, error) {
		data := ev.Data
		if !(updates && servermsg.MayBeUpdated(data)) && len(lists) == 0 {
			return data, nil
		}
		m, err := ev.Message()
		if err != nil {
			return nil, errBadList
		}
		if uri, ok, err := servermsg.UpdatedURI(m); ok && updates {
			if err != nil || !p.mayUse(p.o.Resources, uri, pr) {
				return nil, nil
			}
			return data, nil
		}
		for i, l := range lists {
			if i > 0 && m == nil {
				if m, err = jsonrpc.Decode(data, jsonrpc.Limits{}); err != nil {
					return nil, errBadList
				}
			}
			out, err := filterMessage(data, m, l.field, l.rules, pr)
			if err != nil {
				return nil, err
			}
			if &out[0] != &data[0] {
				data, m = out, nil // rewritten: decode again for the next list
			}
		}
		return data, nil
	}), nil
}

// mayUse reports whether the principal satisfies every rule matching
// target: its scopes, groups and claims.
func (p *policy) mayUse(rules []Rule, target string, pr *gateway.Principal) bool {
	var need []string
	for i := range rules {
		if Match(rules[i].Pattern, target) {
			r := rules[i].requirement()
			if !r.identityOK(pr) {
				return false
			}
			need = append(need, r.Scopes...)
		}
	}
	return resourceserver.MissingScopes(pr.Scopes, need) == nil
}

// identity is the part of a call's requirements that is about who the
// caller is rather than what its token grants: every entry must be
// satisfied.
type identity []Requirement

func (id identity) allows(p *gateway.Principal) bool {
	for i := range id {
		if !id[i].identityOK(p) {
			return false
		}
	}
	return true
}

// identityOK checks the groups and claims of r (not its scopes).
func (r *Requirement) identityOK(p *gateway.Principal) bool {
	if len(r.Groups) > 0 && !anyOf(p.Groups, r.Groups) {
		return false
	}
	for name, want := range r.Claims {
		if !anyOf(p.Claims[name], want) {
			return false
		}
	}
	return true
}

// anyOf reports whether some element of have is in want (exact,
// case-sensitive comparison: group names and claim values are
// identifiers).
func anyOf(have, want []string) bool {
	for _, h := range have {
		for _, w := range want {
			if h == w {
				return true
			}
		}
	}
	return false
}

func (r *Rule) requirement() Requirement {
	return Requirement{Scopes: r.Scopes, Groups: r.Groups, Claims: r.Claims}
}

// forbidden refuses a caller that is not in a required group or lacks a
// required claim value: a plain 403 and the gateway's Forbidden JSON-RPC
// error, without a scope challenge (a group is not a scope, and no token
// the client could ask for changes who the user is). The refusal does not
// name the groups or claims, which describe the organization, not the
// call.
func forbidden() error {
	return &gateway.Error{
		Status: http.StatusForbidden,
		RPC:    jsonrpc.NewError(jsonrpc.CodeForbidden, "Forbidden: the caller is not allowed to make this call"),
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

// required is every scope the call needs (the method's and those of every
// rule its target matches) and the group and claim requirements of the
// same.
func (p *policy) required(c *gateway.Call) ([]string, identity, error) {
	var need []string
	var who identity
	add := func(r Requirement) {
		need = append(need, r.Scopes...)
		if len(r.Groups) > 0 || len(r.Claims) > 0 {
			who = append(who, r)
		}
	}
	if m, ok := p.o.Methods[c.Msg.Method]; ok {
		add(m)
	}
	var rules []Rule
	var targets []string
	switch c.Msg.Method {
	case mcp.MethodToolsCall:
		rules, targets = p.o.Tools, []string{c.Params.Name}
	case mcp.MethodPromptsGet:
		rules, targets = p.o.Prompts, []string{c.Params.Name}
	case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe:
		rules, targets = p.o.Resources, []string{c.Params.URI}
	case mcp.MethodSubscriptionsListen:
		// The 2026-07-28 form of resources/subscribe
		// (basic/patterns/subscriptions): every URI it subscribes to
		// needs what a subscribe of it would.
		uris, err := servermsg.ListenURIs(c.Msg.Params)
		if err != nil {
			return nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "Invalid params: notifications.resourceSubscriptions must be an array of strings"}
		}
		rules, targets = p.o.Resources, uris
	case mcp.MethodCompletionComplete:
		// Completions of a prompt's arguments or a resource template's
		// variables say what the prompt or resources hold: the same
		// rules apply to params.ref (2025-11-25
		// server/utilities/completion "Reference Types").
		var target string
		rules, target = p.completionRules(c)
		targets = []string{target}
	}
	for _, target := range targets {
		for i := range rules {
			if Match(rules[i].Pattern, target) {
				add(rules[i].requirement())
			}
		}
	}
	return dedupe(need), who, nil
}

// completionRules returns the rules and the name a completion's ref
// designates. A ref without a string name or uri is matched as "", which
// a catch-all rule still covers; the upstream refuses it as malformed.
func (p *policy) completionRules(c *gateway.Call) ([]Rule, string) {
	ref, ok := jsonx.Get(c.Msg.Params, "ref")
	if !ok || !jsonx.IsObject(ref) {
		return nil, ""
	}
	str := func(key string) string {
		v, _ := jsonx.Get(ref, key)
		s, _ := jsonx.String(v)
		return s
	}
	switch str("type") {
	case "ref/prompt":
		return p.o.Prompts, str("name")
	case "ref/resource":
		return p.o.Resources, str("uri")
	}
	return nil, ""
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

// errBadList reports a list result the policy cannot read; the gateway
// then fails the request rather than pass entries it could not check.
var errBadList = errors.New("scopes: upstream list result is malformed")

// filterList removes from a list result the entries the principal may not
// use: those a matching rule's scopes, groups or claims deny it, and those
// it cannot name.
func filterList(data []byte, field string, rules []Rule, pr *gateway.Principal) ([]byte, error) {
	m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
	if err != nil {
		return nil, errBadList
	}
	return filterMessage(data, m, field, rules, pr)
}

// filterMessage is filterList on data already decoded as m.
func filterMessage(data []byte, m *jsonrpc.Message, field string, rules []Rule, pr *gateway.Principal) ([]byte, error) {
	if m.Kind != jsonrpc.KindResponse || m.Result == nil {
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
	err := jsonx.WalkArray(list, func(item []byte) bool {
		// An entry without a string name (or uri) is dropped: a client
		// that reads {"Name": ...} as the name must not see a hidden
		// entry under it.
		var target string
		keep := false
		if jsonx.IsObject(item) {
			v, _ := jsonx.Get(item, key)
			target, keep = jsonx.String(v)
		}
		var need []string
		for i := range rules {
			if Match(rules[i].Pattern, target) {
				r := rules[i].requirement()
				need = append(need, r.Scopes...)
				keep = keep && r.identityOK(pr)
			}
		}
		if !keep || resourceserver.MissingScopes(pr.Scopes, need) != nil {
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
	if err != nil {
		return nil, errBadList
	}
	if !dropped {
		return data, nil
	}
	out = append(out, ']')
	res, err := jsonx.Set(m.Result, field, out)
	if err != nil {
		return nil, errBadList
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
