package pii

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/internal/auditnote"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// Options configures a Policy. The zero value runs every built-in detector
// (national identifiers only when NationalIDs lists some) and masks what
// they find in arguments and results, and redacts it in logs.
type Options struct {
	// Detectors sets the rule of each kind. Kinds left out, and zero
	// fields of a rule, inherit Default.
	Detectors map[Kind]Rule
	// Default is the rule of every kind not set in Detectors. Its zero
	// fields mean mask (arguments), mask (results) and redact (logs).
	Default Rule
	// NationalIDs are the national identifier formats to detect, presets
	// or operator patterns. Empty: national identifiers are not detected.
	NationalIDs []NationalIDPattern
	// Logger receives operational logs (never the detected values). If
	// nil, nothing is logged.
	Logger *slog.Logger
}

// Policy is the PII policy. It is immutable and safe for concurrent use.
type Policy struct {
	det      *detector
	actions  [numDirections][numKinds]Action
	national map[string][numDirections]Action // per-pattern overrides
	sets     [numDirections]kindSet
	maybes   [numDirections]func([]byte) bool
	log      *slog.Logger
}

// New compiles opts, reporting every problem at once.
func New(opts Options) (*Policy, error) {
	national, err := compileNational(opts.NationalIDs)
	if err != nil {
		return nil, err
	}
	for k := range opts.Detectors {
		if k == 0 || k >= numKinds {
			return nil, fmt.Errorf("pii: unknown detector kind %d", k)
		}
	}
	p := &Policy{det: newDetector(national), national: map[string][numDirections]Action{}, log: opts.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	defaults := [numDirections]Action{Arguments: Mask, Results: Mask, Logs: Redact}
	for d := Direction(0); d < numDirections; d++ {
		for _, k := range Kinds() {
			a := opts.Detectors[k].get(d)
			if a == Inherit {
				a = opts.Default.get(d)
			}
			if a == Inherit {
				a = defaults[d]
			}
			p.actions[d][k] = a
		}
	}
	for _, n := range opts.NationalIDs {
		var over [numDirections]Action
		for d := Direction(0); d < numDirections; d++ {
			over[d] = n.Rule.get(d)
			if over[d] == Inherit {
				over[d] = p.actions[d][NationalID]
			}
		}
		p.national[n.Name] = over
	}
	for d := Direction(0); d < numDirections; d++ {
		for _, k := range Kinds() {
			on := p.actions[d][k] != Off
			if k == NationalID {
				on = false
				for _, a := range p.national {
					if a[d] != Off {
						on = true
					}
				}
			}
			if on {
				p.sets[d] |= 1 << k
			}
		}
	}
	for d := Direction(0); d < numDirections; d++ {
		p.maybes[d] = p.maybe(d)
	}
	return p, nil
}

// Scan returns every finding of every enabled detector in s, whatever the
// actions.
func (p *Policy) Scan(s string) []Finding {
	set := p.sets[Arguments] | p.sets[Results] | p.sets[Logs]
	return p.det.scan(s, set, nil)
}

// Outcome says what applying the policy did.
type Outcome struct {
	// Blocked is the kind whose action is block, if one was found (0 if
	// none).
	Blocked Kind
	// Masked counts, per kind, the values masked or redacted.
	Masked [numKinds]int
}

// Changed reports whether any value was masked or redacted.
func (o *Outcome) Changed() bool {
	for _, n := range o.Masked {
		if n > 0 {
			return true
		}
	}
	return false
}

// summary names the kinds masked, for audit notes: "email, phone".
func (o *Outcome) summary() string {
	var ks []string
	for _, k := range Kinds() {
		if o.Masked[k] > 0 {
			ks = append(ks, k.String())
		}
	}
	return strings.Join(ks, ", ")
}

func (p *Policy) action(d Direction, f Finding) Action {
	if f.Kind == NationalID {
		if a, ok := p.national[f.Type]; ok {
			return a[d]
		}
	}
	return p.actions[d][f.Kind]
}

// Text applies the rules of direction d to s.
func (p *Policy) Text(d Direction, s string) (string, Outcome) {
	var o Outcome
	out, _ := p.text(d, s, &o)
	return out, o
}

func (p *Policy) text(d Direction, s string, o *Outcome) (string, bool) {
	var buf [8]Finding
	fs := p.det.scan(s, p.sets[d], buf[:0])
	if len(fs) == 0 {
		return s, false
	}
	var b strings.Builder
	last := 0
	for _, f := range fs {
		a := p.action(d, f)
		if a == Block && d == Logs {
			a = Redact
		}
		switch a {
		case Block:
			if o.Blocked == 0 {
				o.Blocked = f.Kind
			}
			a = Redact // the value is never passed on, even in the refusal path
			fallthrough
		case Mask, Redact:
			if b.Len() == 0 {
				b.Grow(len(s) + 16)
			}
			b.WriteString(s[last:f.Start])
			if a == Mask {
				b.WriteString(p.det.maskValue(f, s[f.Start:f.End]))
			} else {
				b.WriteString(redaction(f.Kind))
			}
			last = f.End
			o.Masked[f.Kind]++
		}
	}
	if last == 0 && b.Len() == 0 {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// maybe is the raw-bytes prefilter of direction d: false when no detector
// of the direction could match.
func (p *Policy) maybe(d Direction) func([]byte) bool {
	set := p.sets[d]
	// National id patterns of the operator's own can match anything; the
	// presets need digits.
	nationalDigits := -1
	if set.has(NationalID) {
		nationalDigits = 1 << 30
		for _, n := range p.det.national {
			nationalDigits = min(nationalDigits, n.minDigits)
		}
		if nationalDigits == 0 {
			return func([]byte) bool { return true }
		}
	}
	sec := p.det.secrets
	return func(raw []byte) bool {
		t := scanTriggers(raw)
		switch {
		case nationalDigits > 0 && t.digits >= nationalDigits:
			return true
		case set.has(Email) && t.at,
			(set.has(Phone) || set.has(Card) || set.has(IBAN)) && t.digits >= 8,
			set.has(IP) && (t.digitDot >= 3 || t.colons >= 2):
			return true
		}
		return set.has(Secret) && len(raw) >= 8 && sec.mayContain(raw)
	}
}

// mayMatch reports whether anything in the raw JSON b could be found by
// the detectors of direction d: b without escapes is its strings' text
// (and more), so when the triggers fail on it they fail on every string.
// A message with escapes is always decoded.
func (p *Policy) mayMatch(d Direction, b []byte) bool {
	return bytes.IndexByte(b, '\\') >= 0 || p.maybes[d](b)
}

// JSON applies the rules of direction d to every string value and member
// name of the JSON value b (see the package documentation for what is not
// scanned). It returns b itself when nothing changed.
func (p *Policy) JSON(d Direction, b []byte) ([]byte, Outcome, error) {
	var o Outcome
	out, err := p.json(d, b, false, &o)
	return out, o, err
}

// json is JSON adding to o; data says b is a tool's own data as a whole
// (arguments), where "_meta" has no protocol meaning.
func (p *Policy) json(d Direction, b []byte, data bool, o *Outcome) ([]byte, error) {
	if p.sets[d] == 0 {
		return b, nil
	}
	out, _, err := rewriteStrings(b, p.maybes[d], func(s string) (string, bool) { return p.text(d, s, o) }, data)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LogString masks s for an operational or audit log.
func (p *Policy) LogString(s string) string {
	out, _ := p.Text(Logs, s)
	return out
}

// LogJSON masks the JSON value b for a log, keeping it valid JSON. Bytes
// that are not valid JSON are replaced by a JSON string saying so, never
// passed through. It fits audit.Options.Mask.
func (p *Policy) LogJSON(b []byte) []byte {
	out, _, err := p.JSON(Logs, b)
	if err != nil {
		return []byte(`"[REDACTED:unparsable]"`)
	}
	return out
}

// ReplaceAttr masks string attribute values; it fits
// slog.HandlerOptions.ReplaceAttr, so an operational logger built with it
// never writes what the log rules hide.
func (p *Policy) ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindString {
		if s := a.Value.String(); s != "" {
			if out, o := p.Text(Logs, s); o.Changed() {
				return slog.String(a.Key, out)
			}
		}
	}
	return a
}

var _ gateway.Middleware = (*Policy)(nil).Wrap

// Wrap is the Policy as gateway.Middleware. It sees every message that
// crosses the gateway in either direction:
//
//   - requests going upstream: the arguments of tools/call and
//     prompts/get, and the inputResponses with which a 2026-07-28 client
//     answers a server's input requests (basic/patterns/mrtr), under the
//     argument rules;
//   - a legacy client's responses to server-to-client requests
//     (sampling/createMessage, elicitation/create, roots/list) and its
//     notifications going upstream, under the argument rules;
//   - everything that comes back on the reply of any request and on a
//     legacy session's GET stream: the final result of tools/call,
//     prompts/get and resources/read (and any response a resumed GET
//     stream replays), every notification (log messages, progress
//     messages) and every server-to-client request, under the result
//     rules.
func (p *Policy) Wrap(next gateway.Handler) gateway.Handler {
	return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
		if c.Stream {
			// A GET stream: what the server sends on its own, or the rest
			// of an earlier stream, responses included.
			return p.wrapReply(ctx, next, c, "", true)
		}
		if c.Msg.Kind != jsonrpc.KindRequest {
			if err := p.clientMessage(ctx, c); err != nil {
				return nil, err
			}
			return next(ctx, c)
		}
		if err := p.arguments(ctx, c); err != nil {
			return nil, err
		}
		final := false
		switch c.Msg.Method {
		case mcp.MethodToolsCall, mcp.MethodPromptsGet, mcp.MethodResourcesRead:
			final = true
		}
		return p.wrapReply(ctx, next, c, c.Msg.Method, final)
	}
}

// wrapReply masks the reply of next: every notification and
// server-to-client request, and the final response when final is set.
func (p *Policy) wrapReply(ctx context.Context, next gateway.Handler, c *gateway.Call, method string, final bool) (upstream.Reply, error) {
	reply, err := next(ctx, c)
	if err != nil || p.sets[Results] == 0 {
		return reply, err
	}
	return gateway.TransformReply(reply, func(ev *upstream.Event) ([]byte, error) {
		return p.results(ctx, method, final, ev)
	}), nil
}

// requestFields are the members of a client request's params whose values
// the client supplies for the upstream to use: tool and prompt arguments,
// and the answers to a server's input requests (2026-07-28
// basic/patterns/mrtr "inputResponses"). arguments is the tool's own data
// as a whole.
var requestFields = [...]struct {
	name, quoted string
	data         bool
}{{"arguments", `"arguments"`, true}, {"inputResponses", `"inputResponses"`, false}}

// arguments masks what a request carries upstream (see requestFields) in
// the body forwarded upstream, or refuses the call when a blocked kind is
// found.
func (p *Policy) arguments(ctx context.Context, c *gateway.Call) error {
	if p.sets[Arguments] == 0 {
		return nil
	}
	// Msg is what goes upstream, an outer policy's rewrite included.
	params := c.Msg.Params
	if !jsonx.IsObject(params) {
		return nil
	}
	var o Outcome
	changed := false
	for _, f := range requestFields {
		if f.name == "arguments" && c.Msg.Method != mcp.MethodToolsCall && c.Msg.Method != mcp.MethodPromptsGet {
			continue
		}
		if !mentions(params, f.quoted) {
			continue
		}
		v, ok := c.Params.Arguments, c.Params.Arguments != nil
		if f.name != "arguments" {
			v, ok = jsonx.Get(params, f.name)
		}
		if !ok || !p.mayMatch(Arguments, v) {
			continue
		}
		before := o
		masked, err := p.json(Arguments, v, f.data, &o)
		if err != nil {
			return nil // the upstream answers malformed params itself
		}
		if o == before {
			continue
		}
		if params, err = jsonx.Set(params, f.name, masked); err != nil {
			return fmt.Errorf("pii: rewrite %s: %w", f.name, err)
		}
		changed = true
	}
	if o.Blocked != 0 {
		auditnote.Add(ctx, "pii", "blocked "+o.Blocked.String()+" in arguments")
		return &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: the arguments contain " + o.Blocked.phrase() + ", which this gateway does not forward"}
	}
	if !changed {
		return nil
	}
	body, err := jsonx.Set(c.Body(), "params", params)
	if err != nil {
		return fmt.Errorf("pii: rewrite arguments: %w", err)
	}
	if err := c.SetBody(body); err != nil {
		return fmt.Errorf("pii: rewrite arguments: %w", err)
	}
	auditnote.Add(ctx, "pii", "masked "+o.summary()+" in arguments")
	return nil
}

// mentions reports whether the JSON b could have a member whose name,
// quoted, is quoted: a cheap test before walking b. Without escapes, a
// member name is spelled as is.
func mentions(b []byte, quoted string) bool {
	return bytes.IndexByte(b, '\\') >= 0 || bytes.Contains(b, []byte(quoted))
}

// clientMessage masks a legacy client's response to a server-to-client
// request (a sampling result, an elicitation's content, roots) or
// notification (a progress message, a cancellation reason) before it goes
// upstream, under the argument rules. A blocked kind turns an answer into
// an error response, so the server's request still ends and the value
// never reaches it; in a notification it is redacted.
func (p *Policy) clientMessage(ctx context.Context, c *gateway.Call) error {
	if p.sets[Arguments] == 0 {
		return nil
	}
	body := c.Body()
	if !p.mayMatch(Arguments, body) {
		return nil
	}
	m := c.Msg // what goes upstream, an outer policy's rewrite included
	field, val, what := "params", m.Params, m.Method
	switch {
	case m.Kind == jsonrpc.KindResponse && m.Result != nil:
		field, val, what = "result", m.Result, "a client answer"
	case m.Kind == jsonrpc.KindResponse:
		field, val, what = "error", m.Error, "a client answer"
	case val == nil:
		return nil
	}
	var o Outcome
	masked, err := p.json(Arguments, val, false, &o)
	if err != nil {
		return nil
	}
	if o.Blocked != 0 && m.Kind == jsonrpc.KindResponse {
		auditnote.Add(ctx, "pii", "blocked "+o.Blocked.String()+" in a client answer")
		if err := c.SetBody(jsonrpc.AppendErrorResponse(nil, m.ID, &jsonrpc.Error{Code: jsonrpc.CodeForbidden,
			Message: "Forbidden: the client's answer contained " + o.Blocked.phrase() + ", which this gateway does not forward"})); err != nil {
			return fmt.Errorf("pii: withhold a client answer: %w", err)
		}
		return nil
	}
	if !o.Changed() {
		return nil
	}
	if field == "params" {
		if masked, err = keep(val, masked); err != nil {
			return err
		}
	}
	out, err := jsonx.Set(body, field, masked)
	if err != nil {
		return fmt.Errorf("pii: rewrite %s: %w", what, err)
	}
	if err := c.SetBody(out); err != nil {
		return fmt.Errorf("pii: rewrite %s: %w", what, err)
	}
	auditnote.Add(ctx, "pii", "masked "+o.summary()+" in "+what)
	return nil
}

// keptParams are the members of a notification's or request's params that
// name something the peer chose (a progress token, a request id): they
// are passed as received.
var keptParams = [...]string{mcp.MetaProgressToken, "requestId"}

// keep puts the keptParams members of params back into masked.
func keep(params, masked []byte) ([]byte, error) {
	for _, k := range keptParams {
		if v, ok := jsonx.Get(params, k); ok {
			var err error
			if masked, err = jsonx.Set(masked, k, v); err != nil {
				return nil, fmt.Errorf("pii: rewrite params: %w", err)
			}
		}
	}
	return masked, nil
}

// results rewrites one message of the reply: the final response (result
// or error) when final is set, any notification's params, any
// server-to-client request's params. A response to an unknown method (a
// resumed stream, method "") is masked like a tool result.
func (p *Policy) results(ctx context.Context, method string, final bool, ev *upstream.Event) ([]byte, error) {
	data := ev.Data
	if !final && !mentions(data, `"method"`) {
		// Only notifications and requests are rewritten here, and no
		// reader finds a method member in bytes that do not spell it:
		// a response (a tools/list result, say) need not be scanned.
		return data, nil
	}
	if !p.mayMatch(Results, data) {
		return data, nil
	}
	m, err := ev.Message()
	if err != nil {
		// Not a message the policy can read: withhold it rather than pass
		// what was not checked.
		return nil, fmt.Errorf("pii: unreadable upstream message: %w", err)
	}
	var field string
	var val []byte
	switch {
	case m.Kind == jsonrpc.KindResponse && !final:
		return data, nil
	case m.Kind == jsonrpc.KindResponse && m.Result != nil:
		field, val = "result", m.Result
	case m.Kind == jsonrpc.KindResponse:
		field, val = "error", m.Error
	case m.Params != nil:
		field, val = "params", m.Params
	default:
		return data, nil
	}
	var o Outcome
	masked, err := p.json(Results, val, false, &o)
	if err != nil {
		return nil, fmt.Errorf("pii: unreadable upstream %s: %w", field, err)
	}
	what := "results"
	switch {
	case m.Kind == jsonrpc.KindRequest:
		what = m.Method + " requests"
	case m.Kind == jsonrpc.KindNotification && m.Method != mcp.NotificationMessage:
		what = m.Method
	}
	if o.Blocked != 0 && (m.Kind == jsonrpc.KindResponse || m.Method == mcp.NotificationMessage) {
		auditnote.Add(ctx, "pii", "withheld a result containing "+o.Blocked.String())
		return blockedResult(m, method, o.Blocked), nil
	}
	// A blocked kind in another notification or in a server-to-client
	// request is redacted (text already did): the server's request must
	// still reach the client, so that it is answered, but never the value.
	if !o.Changed() {
		return data, nil
	}
	if field == "params" {
		if masked, err = keep(val, masked); err != nil {
			return nil, err
		}
	}
	auditnote.Add(ctx, "pii", "masked "+o.summary()+" in "+what)
	out, err := jsonx.Set(data, field, masked)
	if err != nil {
		return nil, fmt.Errorf("pii: rewrite %s: %w", field, err)
	}
	return out, nil
}

// blockedResult replaces a message whose content a block rule caught. A
// tools/call result becomes a tool error the model can read (2025-11-25
// server/tools "Error Handling": tool execution errors are results with
// isError true); prompts and resources have no such flag and get a
// CodeForbidden error; a log notification becomes a notice without the
// data.
func blockedResult(m *jsonrpc.Message, method string, k Kind) []byte {
	msg := "Result withheld by the gateway: it contained " + k.phrase() + "."
	switch {
	case m.Kind == jsonrpc.KindNotification:
		params := []byte(`{"level":"warning","logger":"mcpfort","data":`)
		params = jsonx.AppendQuote(params, "Log message withheld by the gateway: it contained "+k.phrase()+".")
		params = append(params, '}')
		return jsonrpc.AppendNotification(nil, m.Method, params)
	case method == mcp.MethodToolsCall && m.Result != nil:
		res := []byte(`{"content":[{"type":"text","text":`)
		res = jsonx.AppendQuote(res, msg)
		res = append(res, `}],"isError":true}`...)
		if rt, ok := jsonx.Get(m.Result, "resultType"); ok {
			// 2026-07-28 results say what they are.
			res, _ = jsonx.Set(res, "resultType", rt)
		}
		return jsonrpc.AppendResult(nil, m.ID, res)
	}
	return jsonrpc.AppendErrorResponse(nil, m.ID, &jsonrpc.Error{Code: jsonrpc.CodeForbidden, Message: "Forbidden: " + msg})
}
