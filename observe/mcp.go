package observe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
	"github.com/mcpfort/mcpfort/transport"
)

// Middleware returns the outermost MCP-plane middleware of a route: for
// every request or notification a client sends, a SERVER span named
// "{mcp.method.name} {target}" (semantic-conventions docs/gen-ai/mcp.md,
// "Server"), the mcp.server.operation.duration histogram and the
// mcpfort.requests counter, and the method, tool, caller and trace id in
// the request's access-log record.
//
// The span's parent is the caller's trace context, taken from params._meta
// (or, absent that, the traceparent header) only when the caller is
// authenticated: an anonymous caller cannot choose the trace, nor force
// sampling, of the gateway. Inbound baggage keeps only the allow-listed
// keys. GET streams and the client's responses to server requests are not
// operations and pass through.
func (t *Telemetry) Middleware(route string) gateway.Middleware {
	routeAttr := attribute.String(AttrRoute, route)
	return func(next gateway.Handler) gateway.Handler {
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if c.Stream || c.Msg == nil || c.Msg.Method == "" {
				return next(ctx, c)
			}
			start := time.Now()
			if c.Principal != nil {
				ctx = t.extract(ctx, c)
			}
			span := noSpan
			if t.tracing {
				target := spanBounded(targetOf(c.Msg.Method, c.Params.Name))
				name := spanBounded(c.Msg.Method)
				if target != "" {
					name += " " + target
				}
				ctx, span = t.startSpan(ctx, name, trace.SpanKindServer)
			}
			var o *op
			if t.tracing || t.metering {
				// The policies' shared state comes with the operation.
				var so *serverOp
				if span.IsRecording() {
					ts := &tracedServerOp{}
					so = &ts.serverOp
					so.call.parent = span.SpanContext()
					so.call.spans = &ts.spans
				} else {
					so = &serverOp{}
				}
				o = &so.op
				prev := c.Observation
				c.Observation = &so.call
				defer func() { c.Observation = prev }()
			} else {
				o = &op{}
			}
			o.t, o.span, o.start, o.id, o.hist = t, span, start, c.Msg.ID, aggServerDuration
			o.labels = labels{route: route, method: methodLabel(c.Msg.Method), name: nameLabel(c.Params.Name), version: c.Version}
			if span.IsRecording() {
				setAttrs(span, t.serverAttrs(c, routeAttr))
			}
			rl := transport.RequestLogFrom(ctx)
			if rl != nil {
				rl.Method, rl.Tool = c.Msg.Method, c.Params.Name
				if c.Msg.Method == "resources/read" || c.Msg.Method == "resources/subscribe" {
					rl.Tool = ""
				}
				if sc := span.SpanContext(); sc.HasTraceID() {
					rl.TraceID = sc.TraceID().String()
				}
				if p := c.Principal; p != nil {
					rl.ClientID = p.ClientID
					rl.SubjectHash = SubjectHash(p.Issuer, p.Subject)
				}
				if rl.TokenCache != "" && span.IsRecording() {
					t.tokenSpan(span.SpanContext(), rl)
				}
			}
			o.rl = rl
			reply, err := next(ctx, c)
			if err != nil {
				o.fail(err, true)
				o.finish()
				return reply, err
			}
			return o.wrap(reply), nil
		}
	}
}

// noSpan stands for the span of an operation while tracing is off:
// nothing is started, and no context changes.
var noSpan = trace.SpanFromContext(context.Background())

// extract returns ctx with the trusted caller's trace context and allowed
// baggage: from params._meta when it carries a traceparent (the MCP
// context), else from the HTTP headers. While tracing is off the caller's
// trace context is not taken (it would travel upstream unchanged, with no
// span of the gateway's in between), only its allowed baggage.
func (t *Telemetry) extract(ctx context.Context, c *gateway.Call) context.Context {
	if !t.tracing && len(t.allow) == 0 {
		return ctx
	}
	var carrier propagation.TextMapCarrier = propagation.HeaderCarrier(c.Header)
	if c.Params.Meta != nil {
		if v, ok := jsonx.Get(c.Params.Meta, MetaTraceparent); ok && jsonx.IsString(v) {
			carrier = metaCarrier(c.Params.Meta)
		}
	}
	if c.Header == nil && carrier == nil {
		return ctx
	}
	if t.tracing {
		ctx = t.prop.Extract(ctx, carrier)
	} else {
		ctx = propagation.Baggage{}.Extract(ctx, carrier)
	}
	if b := baggage.FromContext(ctx); b.Len() > 0 {
		ctx = baggage.ContextWithBaggage(ctx, t.allowedBaggage(b))
	}
	return ctx
}

func (t *Telemetry) serverAttrs(c *gateway.Call, route attribute.KeyValue) []attribute.KeyValue {
	a := make([]attribute.KeyValue, 0, 10) // sized for every attribute below: no growing
	a = append(a, attribute.String(AttrMCPMethodName, spanBounded(c.Msg.Method)), route,
		attribute.String(AttrNetworkTransport, TransportTCP), attribute.String(AttrNetworkProtocolName, "http"))
	if c.Version != "" {
		a = append(a, attribute.String(AttrMCPProtocolVersion, c.Version))
	}
	if id := requestID(c.Msg.ID); id != "" {
		a = append(a, attribute.String(AttrJSONRPCRequestID, spanBounded(id)))
	}
	a = appendTarget(a, c.Msg.Method, spanBounded(c.Params.Name), spanBounded(c.Params.URI))
	// mcp.session.id: legacy sessions only (model/mcp/registry.yaml: MUST
	// NOT be set for 2026-07-28). The session's nonce, never the sealed id
	// the client presents.
	if c.Session != nil && !mcp.IsModern(c.Version) {
		a = append(a, attribute.String(AttrMCPSessionID, hex.EncodeToString(c.Session.ID[:])))
	}
	return a
}

// targetOf is the low-cardinality target of a span name: the tool or
// prompt, never a resource URI (opt-in in the conventions).
func targetOf(method, name string) string {
	switch method {
	case "tools/call", "prompts/get":
		return name
	}
	return ""
}

func appendTarget(a []attribute.KeyValue, method, name, uri string) []attribute.KeyValue {
	switch method {
	case "tools/call":
		a = append(a, attribute.String(AttrGenAIToolName, name), attribute.String(AttrGenAIOperationName, OperationExecuteTool))
	case "prompts/get":
		a = append(a, attribute.String(AttrGenAIPromptName, name))
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		if uri != "" {
			a = append(a, attribute.String(AttrMCPResourceURI, uri))
		}
	}
	return a
}

// requestID is the string form of a JSON-RPC id for jsonrpc.request.id:
// the string itself, or the number's text; "" for absent or null ids.
func requestID(id jsonrpc.ID) string {
	raw := id.Raw()
	if raw == "" || raw == "null" {
		return ""
	}
	if s, ok := jsonx.String([]byte(raw)); ok {
		return s
	}
	return raw
}

// SubjectHash is what logs say of a user: 16 hex digits of SHA-256 over
// issuer and subject, enough to tell users apart in a log, not to name
// them.
func SubjectHash(issuer, subject string) string {
	if issuer == "" && subject == "" {
		return ""
	}
	h := sha256.New()
	h.Write([]byte(issuer))
	h.Write([]byte{0})
	h.Write([]byte(subject))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// op is one observed MCP operation, server or client side: it ends when
// its reply is closed.
type op struct {
	t      *Telemetry
	span   trace.Span
	start  time.Time
	id     jsonrpc.ID
	hist   aggKind
	labels labels
	rl     *transport.RequestLog // server side only
	client bool
	reply  upstream.Reply // the reply observed (wrap)

	errType string
	code    int64
	msg     string
	refused bool
	// mu guards the fields above against Close racing Next (an aborted
	// reply).
	mu   sync.Mutex
	once sync.Once
}

// serverOp is a SERVER operation with the state its policies share: one
// allocation for all (the policies' spans too, while the SERVER span
// records).
type serverOp struct {
	op
	call callState
}

// tracedServerOp is a serverOp whose SERVER span records, with room for
// its policies' spans.
type tracedServerOp struct {
	serverOp
	spans [maxSlots]*lightSpan
}

// fail records a failure: a JSON-RPC error (the code is error.type), or
// another error (error.type _OTHER, or timeout).
func (o *op) fail(err error, refused bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var re *jsonrpc.Error
	switch {
	case errors.As(err, &re):
		o.setRPCError(re.Code, re.Message)
	case errors.Is(err, context.DeadlineExceeded):
		o.errType, o.msg = "timeout", "timeout"
	case errors.Is(err, upstream.ErrSessionGone):
		o.errType, o.msg = "session_gone", "upstream session not found"
	default:
		o.errType, o.msg = ErrorTypeOther, err.Error()
	}
	o.refused = refused
}

// failOnce records err unless an answer was already seen.
func (o *op) failOnce(err error) {
	o.mu.Lock()
	seen := o.errType != ""
	o.mu.Unlock()
	if !seen {
		o.fail(err, false)
	}
}

func (o *op) setRPCError(code int64, msg string) {
	o.errType, o.code, o.msg = strconv.FormatInt(code, 10), code, msg
}

// inspect looks for the operation's final answer in one event: a JSON-RPC
// error response, or a tool result with isError. The event's decoded form
// is the one the gateway's relay reads too (decoded once); only a result
// that mentions isError is scanned for it.
func (o *op) inspect(ev *upstream.Event) {
	m, err := ev.Message()
	if err != nil || m.Kind != jsonrpc.KindResponse || m.ID != o.id {
		return
	}
	if m.Error == nil && !bytes.Contains(m.Result, []byte(`"isError"`)) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if m.Error != nil {
		if e, err := jsonrpc.DecodeError(m.Error); err == nil {
			o.setRPCError(e.Code, e.Message)
		}
		return
	}
	if v, ok := jsonx.Get(m.Result, "isError"); ok && string(bytes.TrimSpace(v)) == "true" {
		o.errType, o.msg = ErrorTypeToolError, "tool returned an error"
	}
}

// finish ends the span and records the metrics, once.
func (o *op) finish() {
	o.once.Do(func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		d := time.Since(o.start).Seconds()
		outcome := "ok"
		if o.errType != "" {
			if o.span.IsRecording() {
				a := []attribute.KeyValue{attribute.String(AttrErrorType, o.errType)}
				if o.code != 0 {
					a = append(a, attribute.String(AttrRPCResponseStatus, strconv.FormatInt(o.code, 10)))
				}
				o.span.SetAttributes(a...)
				o.span.SetStatus(codes.Error, o.msg)
			}
			outcome = "error"
			if o.refused {
				outcome = "refused"
			}
		}
		l := o.labels
		l.errType, l.code = metricErrorType(o.errType, o.code)
		if l.errType != "" && l.errType != ErrorTypeToolError {
			// A failed call's tool or prompt name may be anything the
			// client sent; only names the upstream answered for are
			// labels, so cardinality stays bounded by its lists.
			l.name = ""
		}
		if o.t.metering {
			// The counters' labels follow from the histogram's (and the
			// outcome): their points are kept with its point.
			p := o.t.agg.point(o.hist, l)
			p.record(d, o.span.SpanContext()) // exemplars carry the trace id
			if o.client {
				if l.errType != "" && l.errType != ErrorTypeToolError {
					o.t.agg.related(p, 0, aggUpstreamErrors, labels{kind: kindUpstreamError, route: l.route, errType: l.errType}).add()
				}
			} else {
				i := 0
				switch outcome {
				case "error":
					i = 1
				case "refused":
					i = 2
				}
				o.t.agg.related(p, i, aggRequests, labels{kind: kindRequests, route: l.route, method: l.method, outcome: outcome}).add()
			}
		}
		if !o.client {
			if o.rl != nil && o.code != 0 {
				o.rl.RPCError = o.code
			}
		}
		o.span.End()
	})
}

// wrap returns r observed by o: o is the reply (one allocation for both),
// ends its operation when the reply is closed (the relay closes every
// reply it is given) and reads each event for the answer.
func (o *op) wrap(r upstream.Reply) upstream.Reply {
	if r == nil {
		o.finish()
		return nil
	}
	o.reply = r
	return (*observedReply)(o)
}

// observedReply is an op as the reply it observes.
type observedReply op

func (r *observedReply) Info() upstream.Info { return r.reply.Info() }

func (r *observedReply) Next(ctx context.Context) (*upstream.Event, error) {
	ev, err := r.reply.Next(ctx)
	switch {
	case err == nil && ev != nil && len(ev.Data) > 0:
		(*op)(r).inspect(ev)
	case err != nil && err != io.EOF:
		(*op)(r).failOnce(err)
	}
	return ev, err
}

func (r *observedReply) Close() error {
	err := r.reply.Close()
	(*op)(r).finish()
	return err
}
