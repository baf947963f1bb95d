package schema

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/mcpfort/mcpfort/gateway"
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
	// Logger receives operational logs (never argument values). If nil,
	// nothing is logged.
	Logger *slog.Logger
}

// Stats counts a Validator's decisions.
type Stats struct {
	// Checked counts calls whose arguments were validated and passed;
	// Invalid those answered with isError; Refused those refused as
	// unknown or uncheckable; Unchecked those forwarded unchecked by an
	// Allow option.
	Checked, Invalid, Refused, Unchecked uint64
	// Compiled counts schema compilations.
	Compiled uint64
}

// Validator is the schema policy. It is safe for concurrent use; one
// Validator may serve several routes.
type Validator struct {
	opts    Options
	rules   []toolRules
	cache   *schemaCache
	limits  compileLimits
	printer *message.Printer
	log     *slog.Logger

	checked, invalid, refused, unchecked, compiledN atomic.Uint64
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
	rules, err := compileConstraints(opts.Constraints)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	v := &Validator{
		opts: opts, rules: rules,
		cache:   newSchemaCache(opts.MaxSchemas),
		limits:  compileLimits{maxBytes: opts.MaxSchemaBytes, maxDepth: opts.MaxDepth, maxCost: opts.MaxSchemaCost},
		printer: message.NewPrinter(language.English),
		log:     opts.Logger,
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	return v, nil
}

// Stats returns the decision counters (for metrics).
func (v *Validator) Stats() Stats {
	return Stats{Checked: v.checked.Load(), Invalid: v.invalid.Load(), Refused: v.refused.Load(), Unchecked: v.unchecked.Load(),
		Compiled: v.compiledN.Load()}
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
		}
		return next(ctx, c)
	}
}

// check validates a tools/call. done is false when the call should go on
// to the upstream.
func (v *Validator) check(ctx context.Context, next gateway.Handler, c *gateway.Call) (upstream.Reply, error, bool) {
	name := c.Params.Name
	args := arguments(c)
	def, ok, err := v.definition(ctx, c, name)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err(), true
		}
		if errors.Is(err, upstream.ErrSessionGone) {
			// The session's upstream side is gone (its process ended,
			// its replica restarted): the gateway answers 404 and the
			// client starts a new session, which an upstream error
			// would not tell it to do.
			return nil, err, true
		}
		v.refused.Add(1)
		// The cause (why the tool list could not be had) is logged by the
		// gateway with the call, never sent.
		return nil, &gateway.Error{RPC: &jsonrpc.Error{Code: jsonrpc.CodeUpstreamUnavailable, Message: "the gateway could not learn the tools of the upstream server to check this call"},
			Cause: fmt.Errorf("schema check: tool list: %w", err)}, true
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
// forwarded (a policy before this one may have rewritten it: the call's
// decoded form follows its bytes); absent arguments are an empty object,
// as upstreams read them.
func arguments(c *gateway.Call) []byte {
	if c.Params.Arguments == nil {
		return []byte(`{}`)
	}
	return c.Params.Arguments
}

// definition returns the tool's definition from the route's catalog
// (gateway.Catalog), which lists the tools as the caller when its list is
// older than its TTL. If that listing fails, the expired list still
// answers for a tool it has; an unknown tool with a failed listing is an
// error.
func (v *Validator) definition(ctx context.Context, c *gateway.Call, name string) (*gateway.Tool, bool, error) {
	list, err := c.Tools(ctx)
	if err != nil {
		v.log.Warn("schema: could not list the upstream's tools", "route", c.Route, "err", err)
		if t, ok := list.Tool(name); ok {
			return t, true, nil
		}
		return nil, false, err
	}
	t, ok := list.Tool(name)
	return t, ok, nil
}

// compiled returns the compiled inputSchema of a definition, compiling it
// once. A tool without an inputSchema has a null one, which cannot be
// compiled, so its calls are refused unless AllowUncheckableSchemas.
func (v *Validator) compiled(route string, def *gateway.Tool) (*jsonschema.Schema, error) {
	e := v.cache.get(cacheKey{route: route, hash: def.Hash})
	e.once.Do(func() {
		v.compiledN.Add(1)
		raw := def.InputSchema
		if raw == nil {
			raw = []byte("null")
		}
		e.sch, e.err = compileSchema(raw, v.limits)
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
