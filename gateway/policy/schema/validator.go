package schema

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/sync/singleflight"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/jsonskim"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Options configures a Validator. The zero value checks every call against
// its tool's inputSchema with the documented bounds and no operator
// constraints.
type Options struct {
	// Constraints are operator rules layered on top of the tools' own
	// schemas.
	Constraints []ToolConstraints
	// AllowUnknownTools forwards calls of tools the upstream does not list
	// (the upstream then answers them). By default such calls are refused
	// with -32602 "Unknown tool", the protocol error MCP specifies
	// (server/tools "Error Handling"), so that an unlisted tool cannot
	// bypass validation.
	AllowUnknownTools bool
	// AllowUncheckableSchemas forwards calls of tools whose inputSchema the
	// gateway cannot use (external $ref, unsupported dialect, over the
	// complexity bound, invalid) without checking their arguments. By
	// default those calls are refused with CodeForbidden.
	AllowUncheckableSchemas bool
	// MaxSchemaBytes bounds an inputSchema's size. If zero, 256 KiB.
	MaxSchemaBytes int
	// MaxSchemaCost bounds how many subschema evaluations one argument
	// value may cost (see the package doc); schemas above it are
	// uncheckable. If zero, 2000.
	MaxSchemaCost int64
	// MaxDepth bounds argument nesting. If zero, 32.
	MaxDepth int
	// MaxValues bounds the number of values (scalars, arrays, objects) in
	// one call's arguments. If zero, 100000.
	MaxValues int
	// MaxSchemas bounds the compiled schemas kept. If zero, 1024.
	MaxSchemas int
	// MaxTools bounds the tool definitions remembered. If zero, 4096.
	MaxTools int
	// SchemaTTL is how long a learned definition is trusted before a call
	// refreshes it with a tools/list of its own. If zero, 15 minutes.
	SchemaTTL time.Duration
	// MaxListPages bounds the pages of tools/list fetched to find a tool.
	// If zero, 16.
	MaxListPages int
	// Logger receives operational logs (never argument values). If nil,
	// nothing is logged.
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Stats counts a Validator's decisions.
type Stats struct {
	// Checked counts calls whose arguments were validated and passed;
	// Invalid those answered with isError; Refused those refused as
	// unknown or uncheckable; Unchecked those forwarded unchecked by an
	// Allow option.
	Checked, Invalid, Refused, Unchecked uint64
	// Compiled counts schema compilations; Fetches tools/list requests the
	// gateway made itself.
	Compiled, Fetches uint64
}

// Validator is the schema policy. It is safe for concurrent use; one
// Validator may serve several routes.
type Validator struct {
	opts    Options
	rules   []toolRules
	index   index
	cache   *schemaCache
	flight  singleflight.Group
	limits  compileLimits
	printer *message.Printer
	log     *slog.Logger
	now     func() time.Time
	seq     atomic.Uint64

	checked, invalid, refused, unchecked, compiledN, fetches atomic.Uint64
}

// New validates opts and returns a Validator, reporting every problem.
func New(opts Options) (*Validator, error) {
	if opts.MaxSchemaBytes <= 0 {
		opts.MaxSchemaBytes = 256 << 10
	}
	if opts.MaxSchemaCost <= 0 {
		opts.MaxSchemaCost = 2000
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = defaultDepth
	}
	if opts.MaxValues <= 0 {
		opts.MaxValues = defaultValues
	}
	if opts.MaxSchemas <= 0 {
		opts.MaxSchemas = 1024
	}
	if opts.MaxTools <= 0 {
		opts.MaxTools = 4096
	}
	if opts.SchemaTTL <= 0 {
		opts.SchemaTTL = 15 * time.Minute
	}
	if opts.MaxListPages <= 0 {
		opts.MaxListPages = 16
	}
	rules, err := compileConstraints(opts.Constraints)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	v := &Validator{
		opts: opts, rules: rules,
		index:   index{max: opts.MaxTools, tools: make(map[indexKey]toolDef)},
		cache:   newSchemaCache(opts.MaxSchemas),
		limits:  compileLimits{maxBytes: opts.MaxSchemaBytes, maxDepth: opts.MaxDepth, maxCost: opts.MaxSchemaCost},
		printer: message.NewPrinter(language.English),
		log:     opts.Logger, now: opts.Now,
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Stats returns the decision counters (for metrics).
func (v *Validator) Stats() Stats {
	return Stats{Checked: v.checked.Load(), Invalid: v.invalid.Load(), Refused: v.refused.Load(), Unchecked: v.unchecked.Load(),
		Compiled: v.compiledN.Load(), Fetches: v.fetches.Load()}
}

var _ gateway.Middleware = (*Validator)(nil).Wrap

// Wrap is the Validator as gateway.Middleware. Place it inside the tool
// filter, so that calls the filter refuses are not validated, and outside
// policies that rewrite arguments only if their rewrites should be
// validated too.
func (v *Validator) Wrap(next gateway.Handler) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Msg.Kind != jsonrpc.KindRequest {
			return next(ctx, c)
		}
		switch c.Msg.Method {
		case mcp.MethodToolsCall:
			if reply, err, done := v.check(ctx, next, c); done {
				return reply, err
			}
			return next(ctx, c)
		case mcp.MethodToolsList:
			reply, err := next(ctx, c)
			if err != nil {
				return nil, err
			}
			route := c.Route
			return gateway.TransformReply(reply, func(data []byte) ([]byte, error) {
				v.learnFromMessage(route, data)
				return data, nil
			}), nil
		}
		return next(ctx, c)
	}
}

// check validates a tools/call. done is false when the call should go on
// to the upstream.
func (v *Validator) check(ctx context.Context, next gateway.Handler, c *gateway.Call) (upstream.Reply, error, bool) {
	name := c.Params.Name
	args, err := arguments(c)
	if err != nil {
		v.invalid.Add(1)
		return v.toolError(c, name, []violation{{"", err.Error()}}), nil, true
	}
	def, ok, err := v.definition(ctx, next, c, name)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err(), true
		}
		v.refused.Add(1)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeUpstreamUnavailable, Message: "the gateway could not learn the tools of the upstream server to check this call"}, true
	}
	if !ok {
		if v.opts.AllowUnknownTools {
			v.unchecked.Add(1)
			return nil, nil, false
		}
		v.refused.Add(1)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "Unknown tool: " + quoteShort(name)}, true
	}
	sch, err := v.compiled(c.Route, def)
	if err != nil {
		if v.opts.AllowUncheckableSchemas {
			v.unchecked.Add(1)
			return nil, nil, false
		}
		v.refused.Add(1)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: the gateway cannot check the arguments of tool " + quoteShort(name) + ": its inputSchema is unusable: " + err.Error()}, true
	}
	val, err := decodeArgs(args, v.opts.MaxDepth, v.opts.MaxValues)
	if err != nil {
		v.invalid.Add(1)
		return v.toolError(c, name, []violation{{"", err.Error()}}), nil, true
	}
	bad := v.validate(sch, val)
	for i := range v.rules {
		if !v.rules[i].tool.Match(name) {
			continue
		}
		for j := range v.rules[i].args {
			bad = v.rules[i].args[j].check(val, bad)
		}
	}
	if len(bad) > 0 {
		// The validator reports in map order; sort so that the same
		// arguments always get the same text.
		slices.SortStableFunc(bad, func(a, b violation) int { return strings.Compare(a.at, b.at) })
		v.invalid.Add(1)
		return v.toolError(c, name, bad), nil, true
	}
	v.checked.Add(1)
	return nil, nil, false
}

// arguments returns params.arguments of the message that will be
// forwarded (a policy before this one may have rewritten it); absent
// arguments are an empty object, as upstreams read them.
func arguments(c *gateway.Call) ([]byte, error) {
	body, params := c.Body(), c.Msg.Params
	if !sameBytes(body, c.Msg.Raw) {
		// Rewritten: read, and validate, what will actually be sent.
		if err := jsonx.Validate(body, 0); err != nil {
			return nil, errors.New("arguments are not valid JSON")
		}
		params, _ = jsonskim.Member(body, "params")
	}
	if params == nil || !jsonx.IsObject(params) {
		return []byte(`{}`), nil
	}
	args, ok := jsonskim.Member(params, "arguments")
	if !ok {
		return []byte(`{}`), nil
	}
	return args, nil
}

// sameBytes reports whether a and b are the same slice of memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// definition returns the tool's learned definition, asking the upstream
// when it is unknown or stale. A stale definition is used if the refresh
// fails; an unknown tool with a failed listing is an error.
func (v *Validator) definition(ctx context.Context, next gateway.Handler, c *gateway.Call, name string) (toolDef, bool, error) {
	def, ok := v.index.get(c.Route, name)
	if ok && v.now().Sub(def.learned) < v.opts.SchemaTTL {
		return def, true, nil
	}
	listed, err := v.fetch(ctx, next, c)
	if err != nil {
		v.log.Warn("schema: could not list the upstream's tools", "route", c.Route, "err", err)
		if ok {
			return def, true, nil
		}
		return toolDef{}, false, err
	}
	// Read the listing itself: with more tools than MaxTools, the index
	// may already have dropped this one again.
	fresh, found := listed[name]
	return fresh, found, nil
}

// fetch lists the upstream's tools, as the caller, learns them and
// returns them by name. Concurrent calls of one caller on one route share
// one listing.
func (v *Validator) fetch(ctx context.Context, next gateway.Handler, c *gateway.Call) (map[string]toolDef, error) {
	key := c.Route + "\x00"
	if p := c.Principal; p != nil {
		key += p.Issuer + "\x00" + p.Subject
	}
	ch := v.flight.DoChan(key, func() (any, error) {
		listed := map[string]toolDef{}
		err := v.fetchPages(ctx, next, c, listed)
		return listed, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(map[string]toolDef), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (v *Validator) fetchPages(ctx context.Context, next gateway.Handler, c *gateway.Call, listed map[string]toolDef) error {
	params := []byte(`{}`)
	for page := 0; page < v.opts.MaxListPages; page++ {
		id := jsonrpc.StringID("mcpfort-schema-" + strconv.FormatUint(v.seq.Add(1), 10))
		d, err := c.Derive(id, mcp.MethodToolsList, params)
		if err != nil {
			return err
		}
		v.fetches.Add(1)
		reply, err := next(ctx, d)
		if err != nil {
			return err
		}
		res, err := gateway.FinalResult(ctx, reply)
		if err != nil {
			return err
		}
		v.learnFromResult(c.Route, res, listed)
		cur, ok := jsonx.Get(res, "nextCursor")
		if !ok || jsonx.IsNull(cur) {
			return nil
		}
		if !jsonx.IsString(cur) {
			return errors.New("nextCursor is not a string")
		}
		if params, err = jsonx.Set([]byte(`{}`), "cursor", cur); err != nil {
			return err
		}
	}
	return nil
}

// learnFromMessage learns the tools of a tools/list response passing
// through to the client.
func (v *Validator) learnFromMessage(route string, data []byte) {
	m, err := jsonrpc.Decode(data, jsonrpc.Limits{})
	if err != nil || m.Kind != jsonrpc.KindResponse || m.Result == nil || !jsonx.IsObject(m.Result) {
		return
	}
	v.learnFromResult(route, m.Result, nil)
}

// learnFromResult records each tool's inputSchema from a ListToolsResult
// (already validated JSON), and in listed when it is not nil. Entries
// without a name are skipped; a tool without an inputSchema is recorded
// with a null one, which cannot be compiled, so its calls are refused
// unless AllowUncheckableSchemas.
func (v *Validator) learnFromResult(route string, result []byte, listed map[string]toolDef) {
	tools, ok := jsonskim.Member(result, "tools")
	if !ok {
		return
	}
	now := v.now()
	jsonskim.Elements(tools, func(t []byte) bool {
		if !jsonx.IsObject(t) {
			return true
		}
		name, ok := jsonskim.String(t, "name")
		if !ok {
			return true
		}
		raw, ok := jsonskim.Member(t, "inputSchema")
		if !ok {
			raw = []byte("null")
		}
		d := v.index.put(route, name, slices.Clone(raw), now)
		if listed != nil {
			listed[name] = d
		}
		return true
	})
}

// compiled returns the compiled schema of a definition, compiling it once.
func (v *Validator) compiled(route string, def toolDef) (*jsonschema.Schema, error) {
	e := v.cache.get(cacheKey{route: route, hash: def.hash})
	e.once.Do(func() {
		v.compiledN.Add(1)
		e.sch, e.err = compileSchema(def.raw, v.limits)
		if e.err != nil {
			v.log.Warn("schema: unusable tool inputSchema", "route", route, "err", e.err)
		}
	})
	return e.sch, e.err
}

// validate runs the library's validation, turning a failure of the
// library itself into a reported problem rather than a crash.
func (v *Validator) validate(sch *jsonschema.Schema, val any) (bad []violation) {
	defer func() {
		if r := recover(); r != nil {
			v.log.Error("schema: the validator failed", "panic", fmt.Sprint(r))
			bad = []violation{{"", "the gateway could not validate these arguments"}}
		}
	}()
	if err := sch.Validate(val); err != nil {
		bad = v.schemaViolations(err, nil)
	}
	return bad
}

// maxReported bounds the problems listed in one error result.
const maxReported = 8

// schemaViolations lists the leaf errors of a validation failure, each at
// the JSON Pointer of the failing value.
func (v *Validator) schemaViolations(err error, out []violation) []violation {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return append(out, violation{"", "arguments could not be validated"})
	}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(out) > maxReported {
			return
		}
		if len(e.Causes) == 0 {
			at := ""
			for _, s := range e.InstanceLocation {
				at += "/" + escapeSegment(s)
			}
			out = append(out, violation{at, e.ErrorKind.LocalizedString(v.printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// toolError is the answer to invalid arguments: a CallToolResult with
// isError true (2025-11-25 and 2026-07-28 server/tools "Error Handling":
// input validation errors are tool execution errors, so the model can
// correct itself), listing each failing field.
func (v *Validator) toolError(c *gateway.Call, name string, bad []violation) upstream.Reply {
	var b strings.Builder
	b.WriteString("Invalid arguments for tool ")
	b.WriteString(quoteShort(name))
	b.WriteString(":")
	for i, x := range bad {
		if i == maxReported {
			fmt.Fprintf(&b, "\n- and %d more", len(bad)-i)
			break
		}
		at := x.at
		if at == "" {
			at = "(arguments)"
		}
		b.WriteString("\n- ")
		b.WriteString(at)
		b.WriteString(": ")
		b.WriteString(cut(x.msg, 300))
	}
	res := make([]byte, 0, b.Len()+96)
	res = append(res, '{')
	if c.Era == mcp.EraModern {
		// 2026-07-28 basic "Result Responses": results carry resultType.
		res = append(res, `"resultType":"complete",`...)
	}
	res = append(res, `"content":[{"type":"text","text":`...)
	res = jsonx.AppendQuote(res, b.String())
	res = append(res, `}],"isError":true}`...)
	return upstream.Message(jsonrpc.AppendResult(nil, c.Msg.ID, res))
}

// quoteShort quotes a client-supplied name, cut to a sane length.
func quoteShort(s string) string { return string(jsonx.Quote(cut(s, 128))) }

func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	for limit > 0 && s[limit]&0xC0 == 0x80 {
		limit--
	}
	return s[:limit] + "…"
}
