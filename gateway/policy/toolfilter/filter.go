package toolfilter

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/glob"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/servermsg"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Rules are allow and deny lists of names or glob patterns ('*' matches
// any run of characters, '?' one character, '\' escapes).
type Rules struct {
	// Allow, when not empty, lists what may be used; anything else is
	// hidden (unless a held scope allows it).
	Allow []string
	// Deny lists what is hidden, whatever the allow lists say.
	Deny []string
}

// Scoped are the rules for callers holding one scope.
type Scoped struct {
	Tools, Prompts, Resources Rules
}

// Options configures a Filter. The zero value hides nothing.
//
// A name is usable when:
//   - no Deny list that applies matches it (the server's, or that of a
//     scope the caller holds): deny always wins;
//   - and the Allow list of a scope the caller holds matches it, or the
//     server's Allow list matches it, or the server's Allow list is empty
//     and no scope's Allow list matches it.
//
// So a scope's Allow list grants names to its holders, and also reserves
// them: a name that some scope allows is hidden from callers without such
// a scope unless the server's Allow list names it too. Resources are
// matched by URI; resource templates by their uriTemplate text, so a deny
// pattern like "file:///secret/*" refuses reads of those URIs but hides a
// template such as "file:///{path}" only if a pattern matches its text.
type Options struct {
	// Tools, Prompts and Resources apply to every caller of the server.
	Tools, Prompts, Resources Rules
	// Scopes adds rules for callers whose token holds the scope (key).
	Scopes map[string]Scoped
}

// Kind is what a name designates.
type Kind uint8

// Kinds of names.
const (
	Tool Kind = iota
	Prompt
	Resource
	nKinds
)

func (k Kind) String() string {
	switch k {
	case Tool:
		return "tool"
	case Prompt:
		return "prompt"
	case Resource:
		return "resource"
	}
	return "unknown"
}

type lists struct{ allow, deny glob.List }

// Filter is the tool filter policy. It is immutable and safe for
// concurrent use.
type Filter struct {
	base   [nKinds]lists
	scoped map[string]*[nKinds]lists
	// gated[k] is the union of every scope's allow list for kind k: names
	// reserved to some scope's holders.
	gated  [nKinds][]glob.List
	active [nKinds]bool // whether any rule concerns the kind
}

// New compiles opts, reporting every bad pattern at once.
func New(opts Options) (*Filter, error) {
	f := &Filter{scoped: make(map[string]*[nKinds]lists, len(opts.Scopes))}
	var errs []error
	compile := func(at string, r Rules, k Kind) lists {
		var l lists
		var err error
		if l.allow, err = glob.CompileList(r.Allow); err != nil {
			errs = append(errs, fmt.Errorf("%s.allow: %w", at, err))
		}
		if l.deny, err = glob.CompileList(r.Deny); err != nil {
			errs = append(errs, fmt.Errorf("%s.deny: %w", at, err))
		}
		if !l.allow.Empty() || !l.deny.Empty() {
			f.active[k] = true
		}
		return l
	}
	f.base[Tool] = compile("tools", opts.Tools, Tool)
	f.base[Prompt] = compile("prompts", opts.Prompts, Prompt)
	f.base[Resource] = compile("resources", opts.Resources, Resource)
	scopes := make([]string, 0, len(opts.Scopes))
	for s := range opts.Scopes {
		scopes = append(scopes, s)
	}
	slices.Sort(scopes) // deterministic error order
	for _, s := range scopes {
		if s == "" {
			errs = append(errs, errors.New("scopes: empty scope name"))
			continue
		}
		r := opts.Scopes[s]
		var ls [nKinds]lists
		ls[Tool] = compile("scopes."+s+".tools", r.Tools, Tool)
		ls[Prompt] = compile("scopes."+s+".prompts", r.Prompts, Prompt)
		ls[Resource] = compile("scopes."+s+".resources", r.Resources, Resource)
		for k := range nKinds {
			if !ls[k].allow.Empty() {
				f.gated[k] = append(f.gated[k], ls[k].allow)
			}
		}
		f.scoped[s] = &ls
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("toolfilter: %w", errors.Join(errs...))
	}
	return f, nil
}

// Allowed reports whether a caller holding scopes may see and use the
// named tool, prompt or resource.
func (f *Filter) Allowed(k Kind, name string, scopes []string) bool {
	if !f.active[k] {
		return true
	}
	if f.base[k].deny.Match(name) {
		return false
	}
	granted := false
	for _, s := range scopes {
		ls, ok := f.scoped[s]
		if !ok {
			continue
		}
		if ls[k].deny.Match(name) {
			return false
		}
		if !granted && ls[k].allow.Match(name) {
			granted = true
		}
	}
	if granted {
		return true
	}
	if !f.base[k].allow.Empty() {
		return f.base[k].allow.Match(name)
	}
	for _, g := range f.gated[k] {
		if g.Match(name) {
			return false
		}
	}
	return true
}

var _ gateway.Middleware = (*Filter)(nil).Wrap

// Wrap is the Filter as gateway.Middleware.
func (f *Filter) Wrap(next gateway.Handler) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		var scopes []string
		if c.Principal != nil {
			scopes = c.Principal.Scopes
		}
		if c.Stream {
			// A legacy session's GET stream: the server's own messages,
			// or the rest of an earlier stream, whose responses answer
			// requests this call does not name.
			return f.filtered(ctx, next, c, servermsg.List{}, true, scopes)
		}
		if c.Msg.Kind != jsonrpc.KindRequest {
			return next(ctx, c)
		}
		switch c.Msg.Method {
		case mcp.MethodToolsList, mcp.MethodPromptsList, mcp.MethodResourcesList, mcp.MethodResourcesTemplates:
			for _, l := range servermsg.Lists {
				if l.Method == c.Msg.Method {
					return f.filtered(ctx, next, c, l, false, scopes)
				}
			}
		case mcp.MethodSubscriptionsListen:
			// The 2026-07-28 form of resources/subscribe
			// (basic/patterns/subscriptions): every URI it subscribes to
			// is checked as a subscribe of it would be.
			uris, err := servermsg.ListenURIs(c.Msg.Params)
			if err != nil {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "Invalid params: notifications.resourceSubscriptions must be an array of strings"}
			}
			for _, u := range uris {
				if err := f.checkURI(u, scopes); err != nil {
					return nil, err
				}
			}
		case mcp.MethodToolsCall:
			if !c.Params.HasName {
				return nil, missingTarget(c.Msg.Method, "name")
			}
			if err := f.check(Tool, c.Params.Name, scopes); err != nil {
				return nil, err
			}
		case mcp.MethodPromptsGet:
			if !c.Params.HasName {
				return nil, missingTarget(c.Msg.Method, "name")
			}
			if err := f.check(Prompt, c.Params.Name, scopes); err != nil {
				return nil, err
			}
		case mcp.MethodResourcesRead, mcp.MethodResourcesSubscribe:
			if !c.Params.HasURI {
				return nil, missingTarget(c.Msg.Method, "uri")
			}
			if err := f.checkURI(c.Params.URI, scopes); err != nil {
				return nil, err
			}
		case mcp.MethodCompletionComplete:
			if err := f.checkCompletion(c, scopes); err != nil {
				return nil, err
			}
		}
		return f.filtered(ctx, next, c, servermsg.List{}, false, scopes)
	}
}

// missingTarget is the refusal of a call whose params lack the string
// member naming its target (tools/call and prompts/get "name",
// resources/read and resources/subscribe "uri"). Member names are matched
// case-sensitively, as JSON-RPC 2.0 and MCP define them; a rule checked
// against an absent name would check nothing while an upstream that
// matches member names case-insensitively (Go's encoding/json) reads
// {"Name": "delete_user"} as the name, so such a call never goes on.
func missingTarget(method, member string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "Invalid params: params." + member + " is required for " + method}
}

// check refuses a call that names a hidden entry. The refusal says what
// was refused, as the caller named it, and nothing about the rules.
func (f *Filter) check(k Kind, name string, scopes []string) error {
	if f.Allowed(k, name, scopes) {
		return nil
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: " + k.String() + " " + quoteShort(name) + " is not available through this gateway"}
}

// checkURI applies the resource rules to a URI the client asks for, both
// as sent and in its normalized form (RFC 3986 section 6.2.2: scheme and
// host case, percent-decoding, dot-segment removal), so that
// "file:///public/../secret/k" or "TEST://Private/k" cannot slip past a
// rule the upstream's own URI handling would not distinguish. A URI the
// gateway cannot parse is refused whenever resource rules exist.
func (f *Filter) checkURI(uri string, scopes []string) error {
	if !f.active[Resource] {
		return nil
	}
	norm, ok := normalizeURI(uri)
	if !ok || !f.Allowed(Resource, norm, scopes) {
		return &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: resource " + quoteShort(uri) + " is not available through this gateway"}
	}
	return f.check(Resource, uri, scopes)
}

// normalizeURI returns the syntax-based normal form of a URI (RFC 3986
// section 6.2.2), with the path percent-decoded.
func normalizeURI(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if u.Opaque != "" {
		return scheme + ":" + u.Opaque, true
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString(":")
	if u.Host != "" || strings.HasPrefix(s[len(u.Scheme)+1:], "//") {
		b.WriteString("//")
		if u.User != nil {
			b.WriteString(u.User.String())
			b.WriteString("@")
		}
		b.WriteString(strings.ToLower(u.Host))
	}
	b.WriteString(removeDotSegments(u.Path))
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteString("?")
		b.WriteString(u.RawQuery)
	}
	return b.String(), true
}

// removeDotSegments is RFC 3986 section 5.2.4 on a decoded path: "." and
// ".." segments are resolved, and a trailing slash is kept.
func removeDotSegments(p string) string {
	if !strings.Contains(p, ".") {
		return p
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, seg := range segs {
		last := i == len(segs)-1
		switch seg {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 || (len(out) == 1 && out[0] != "") {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, seg)
		}
	}
	r := strings.Join(out, "/")
	if strings.HasPrefix(p, "/") && !strings.HasPrefix(r, "/") {
		r = "/" + r
	}
	return r
}

// checkCompletion applies the prompt and resource rules to
// completion/complete, whose params.ref names a prompt or a resource
// template (2025-11-25 server/utilities/completion "Reference Types").
func (f *Filter) checkCompletion(c *gateway.Call, scopes []string) error {
	if !f.active[Prompt] && !f.active[Resource] {
		return nil
	}
	ref, ok := jsonx.Get(c.Msg.Params, "ref")
	if !ok || !jsonx.IsObject(ref) {
		return nil // malformed: the upstream answers Invalid params
	}
	typ, _ := jsonString(ref, "type")
	switch typ {
	case "ref/prompt":
		name, ok := jsonString(ref, "name")
		if !ok {
			return missingTarget(mcp.MethodCompletionComplete, "ref.name")
		}
		return f.check(Prompt, name, scopes)
	case "ref/resource":
		uri, ok := jsonString(ref, "uri")
		if !ok {
			return missingTarget(mcp.MethodCompletionComplete, "ref.uri")
		}
		return f.check(Resource, uri, scopes)
	}
	return nil
}

func jsonString(obj []byte, key string) (string, bool) {
	v, ok := jsonx.Get(obj, key)
	if !ok {
		return "", false
	}
	return jsonx.String(v)
}

// quoteShort quotes a client-supplied name for an error message, cut to a
// sane length so a refusal never echoes megabytes back.
func quoteShort(s string) string {
	const limit = 128
	if len(s) > limit {
		cut := limit
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return string(jsonx.Quote(s))
}

// filtered forwards a request (or opens a stream) and removes from what
// comes back what the caller may not see: the hidden entries of the
// result of list l (when l names a list method), every
// notifications/resources/updated about a hidden resource, and, on a
// stream (resumed, so that its responses answer requests this call does
// not name), the hidden entries of any list result by its shape. See
// package servermsg for what each server message names.
func (f *Filter) filtered(ctx context.Context, next gateway.Handler, c *gateway.Call, l servermsg.List, stream bool, scopes []string) (upstream.Reply, error) {
	reply, err := next(ctx, c)
	if err != nil {
		return reply, err
	}
	var lists []servermsg.List
	switch {
	case stream:
		for _, sl := range servermsg.Lists {
			if f.active[kindOf(sl)] {
				lists = append(lists, sl)
			}
		}
	case l.Method != "" && f.active[kindOf(l)]:
		lists = []servermsg.List{l}
	}
	if len(lists) == 0 && !f.active[Resource] {
		return reply, nil
	}
	return gateway.TransformReply(reply, func(ev *upstream.Event) ([]byte, error) {
		return f.serverMessage(ev, lists, scopes)
	}), nil
}

func kindOf(l servermsg.List) Kind {
	switch l.Field {
	case "tools":
		return Tool
	case "prompts":
		return Prompt
	}
	return Resource
}

// serverMessage rewrites one message coming back: it filters the list
// results in lists, and drops a notifications/resources/updated about a
// resource the caller may not read (checked as a resources/read of its
// URI would be, normalized form included), or that names no URI.
func (f *Filter) serverMessage(ev *upstream.Event, lists []servermsg.List, scopes []string) ([]byte, error) {
	data := ev.Data
	updates := f.active[Resource] && servermsg.MayBeUpdated(data)
	if !updates && len(lists) == 0 {
		return data, nil
	}
	m, err := ev.Message()
	if err != nil {
		return nil, errBadList
	}
	if uri, ok, err := servermsg.UpdatedURI(m); ok && f.active[Resource] {
		if err != nil || f.checkURI(uri, scopes) != nil {
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
		k := kindOf(l)
		out, err := filterMessage(data, m, l.Field, l.Key, func(name string) bool { return f.Allowed(k, name, scopes) })
		if err != nil {
			return nil, err
		}
		if &out[0] != &data[0] {
			data, m = out, nil // rewritten: decode again for the next list
		}
	}
	return data, nil
}

// errBadList reports a list result the filter cannot read; the gateway
// then fails the request instead of passing entries it could not check.
var errBadList = errors.New("toolfilter: upstream list result is malformed")

// filterList rewrites a list response, keeping the entries of result.field
// whose member key keep accepts. Other messages (progress notifications,
// error responses) pass unchanged, as does a result with nothing to
// remove. An entry without a readable key is removed.
func filterList(data []byte, field, key string, keep func(string) bool) ([]byte, error) {
	m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
	if err != nil {
		return nil, errBadList
	}
	return filterMessage(data, m, field, key, keep)
}

// filterMessage is filterList on data already decoded as m.
func filterMessage(data []byte, m *jsonrpc.Message, field, key string, keep func(string) bool) ([]byte, error) {
	if m.Kind != jsonrpc.KindResponse || m.Result == nil {
		return data, nil
	}
	if !jsonx.IsObject(m.Result) {
		return nil, errBadList
	}
	var kept [][]byte
	dropped := false
	list, err := jsonx.Elements(m.Result, field, func(elem []byte) bool {
		name, named := "", jsonx.IsObject(elem)
		if named {
			var v []byte
			if v, named = jsonx.Get(elem, key); named {
				name, named = jsonx.String(v)
			}
		}
		if named && keep(name) {
			kept = append(kept, elem)
		} else {
			dropped = true
		}
		return true
	})
	if err != nil {
		return nil, errBadList
	}
	if list == nil {
		return data, nil
	}
	if !dropped {
		return data, nil
	}
	n := 2
	for _, e := range kept {
		n += len(e) + 1
	}
	arr := make([]byte, 0, n)
	arr = append(arr, '[')
	for i, e := range kept {
		if i > 0 {
			arr = append(arr, ',')
		}
		arr = append(arr, e...)
	}
	arr = append(arr, ']')
	if out, ok := splice(data, list, arr); ok {
		return out, nil
	}
	result, err := jsonx.Set(m.Result, field, arr)
	if err != nil {
		return nil, errBadList
	}
	out, err := jsonx.Set(data, "result", result)
	if err != nil {
		return nil, errBadList
	}
	return out, nil
}

// splice returns a copy of data with sub, a slice of data's own memory
// (the decoder's values alias the message), replaced by repl: one copy
// instead of re-scanning the message to find the member again.
func splice(data, sub, repl []byte) ([]byte, bool) {
	off := cap(data) - cap(sub)
	if len(sub) == 0 || off < 0 || off+len(sub) > len(data) || &data[off] != &sub[0] {
		return nil, false
	}
	out := make([]byte, 0, len(data)-len(sub)+len(repl))
	out = append(out, data[:off]...)
	out = append(out, repl...)
	return append(out, data[off+len(sub):]...), true
}
