package observe

import (
	"context"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/jsonrpc"
	"github.com/mcpfort/mcpfort/mcp"
)

// UpstreamOptions describe an upstream for its CLIENT spans.
type UpstreamOptions struct {
	// Route is the gateway route the upstream serves.
	Route string
	// Stdio is set for a local upstream (network.transport pipe, trace
	// context in params._meta of every message); otherwise the upstream is
	// reached over Streamable HTTP (headers, and params._meta for
	// 2026-07-28 requests).
	Stdio bool
	// Address and Port name a remote upstream (server.address,
	// server.port).
	Address string
	Port    int
}

// Upstream wraps up so that each message sent upstream gets a CLIENT span
// ("{mcp.method.name} {target}", semantic-conventions docs/gen-ai/mcp.md,
// "Client") and the mcp.client.operation.duration histogram, and carries
// the gateway's own span context: W3C traceparent, tracestate and (allowed)
// baggage headers replace whatever the client sent, and for stdio and
// 2026-07-28 upstreams the same values are written into params._meta
// (MCP 2026-07-28 basic "_meta", SEP-414). GET streams and deletes
// carry the context in headers only.
func (t *Telemetry) Upstream(up upstream.Upstream, o UpstreamOptions) upstream.Upstream {
	u := &tracedUpstream{Upstream: up, t: t, o: o, route: attribute.String(AttrRoute, o.Route)}
	transport := TransportTCP
	if o.Stdio {
		transport = TransportPipe
	}
	u.transport = attribute.String(AttrNetworkTransport, transport)
	return u
}

type tracedUpstream struct {
	upstream.Upstream
	t         *Telemetry
	o         UpstreamOptions
	route     attribute.KeyValue
	transport attribute.KeyValue
}

// keepsHeaders reports whether h goes upstream as it is: ctx has no trace
// context or baggage to set, and h none to remove.
func keepsHeaders(ctx context.Context, h http.Header) bool {
	return !trace.SpanContextFromContext(ctx).IsValid() && baggage.FromContext(ctx).Len() == 0 &&
		h["Traceparent"] == nil && h["Tracestate"] == nil && h["Baggage"] == nil
}

// headers returns h with the trace context replaced by ctx's.
func (u *tracedUpstream) headers(ctx context.Context, h http.Header) http.Header {
	if keepsHeaders(ctx, h) {
		return h // nothing to set or remove
	}
	out := make(http.Header, len(h)+2)
	for k, v := range h {
		switch k {
		case "Traceparent", "Tracestate", "Baggage":
		default:
			out[k] = v
		}
	}
	u.t.prop.Inject(ctx, propagation.HeaderCarrier(out))
	if len(out) == 0 {
		return nil
	}
	return out
}

func (u *tracedUpstream) Post(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	m, err := req.Message()
	if err != nil || m.Method == "" {
		r, _ := u.outgoing(ctx, req, false)
		return u.Upstream.Post(ctx, r)
	}
	if !u.t.tracing && !u.t.metering {
		// Nothing to record: only the trace context (none of the
		// gateway's, allowed baggage at most) replaces the client's.
		r, err := u.outgoing(ctx, req, mentionsTrace(m.Params) || (baggage.FromContext(ctx).Len() > 0 && (u.o.Stdio || mcp.IsModern(req.ProtocolVersion))))
		if err != nil {
			return nil, err
		}
		return u.Upstream.Post(ctx, r)
	}
	start := time.Now()
	var name string
	if m.Method == "tools/call" || m.Method == "prompts/get" {
		name = spanBounded(paramsName(m))
	}
	span := noSpan
	if parent := trace.SpanContextFromContext(ctx); u.t.tracing && (!u.t.parentBased || !parent.IsValid() || parent.IsSampled()) {
		// Under a parent-based sampler the child of an unsampled span
		// is not sampled either: none is started, and the upstream gets
		// the unsampled parent's context.
		spanName := spanBounded(m.Method)
		if name != "" {
			spanName += " " + name
		}
		ctx, span = u.t.startSpan(ctx, spanName, trace.SpanKindClient)
	}
	if span.IsRecording() {
		a := make([]attribute.KeyValue, 0, 11) // sized for every attribute below: no growing
		a = append(a, attribute.String(AttrMCPMethodName, spanBounded(m.Method)), u.route, u.transport)
		if req.ProtocolVersion != "" {
			a = append(a, attribute.String(AttrMCPProtocolVersion, req.ProtocolVersion))
		}
		if id := requestID(m.ID); id != "" {
			a = append(a, attribute.String(AttrJSONRPCRequestID, spanBounded(id)))
		}
		a = appendTarget(a, m.Method, name, "")
		if u.o.Address != "" {
			a = append(a, attribute.String(AttrServerAddress, u.o.Address))
			if u.o.Port != 0 {
				a = append(a, attribute.Int(AttrServerPort, u.o.Port))
			}
		}
		if !u.o.Stdio {
			a = append(a, attribute.String(AttrNetworkProtocolName, "http"))
		}
		setAttrs(span, a)
	}
	o := &op{t: u.t, span: span, start: start, id: m.ID, hist: aggClientDuration, client: true,
		labels: labels{route: u.o.Route, method: methodLabel(m.Method), name: nameLabel(name), version: req.ProtocolVersion, transport: u.transport.Value.AsString()}}
	// A legacy HTTP upstream reads the context from the headers; its
	// messages are rewritten only when the client put context of its own
	// in _meta, which must not travel on unchanged.
	r, err := u.outgoing(ctx, req, u.o.Stdio || mcp.IsModern(req.ProtocolVersion) || mentionsTrace(m.Params))
	if err != nil {
		o.fail(err, false)
		o.finish()
		return nil, err
	}
	reply, err := u.Upstream.Post(ctx, r)
	if err != nil {
		o.fail(err, false)
		o.finish()
		return reply, err
	}
	return o.wrap(reply), nil
}

// paramsName is the message's params.name when it is a string: from the
// members the message's decoding found (no second scan), else read from
// params.
func paramsName(m *jsonrpc.Message) string {
	if members, _, ok := m.ParamsMembers(); ok {
		for _, mb := range members {
			if mb.Key == "name" {
				s, _ := jsonx.String(mb.Value)
				return s
			}
		}
		return ""
	}
	if v, ok := jsonx.Get(m.Params, "name"); ok {
		s, _ := jsonx.String(v)
		return s
	}
	return ""
}

// outgoing returns req as it goes upstream: its headers carrying ctx's
// trace context instead of the client's and, with body set, its
// params._meta too (injectBody). When nothing changes that is req itself;
// otherwise a copy, since req is the caller's.
func (u *tracedUpstream) outgoing(ctx context.Context, req *upstream.Request, body bool) (*upstream.Request, error) {
	if !body && keepsHeaders(ctx, req.Header) {
		return req, nil
	}
	r := *req
	r.Header = u.headers(ctx, req.Header)
	if body {
		if err := u.injectBody(ctx, &r); err != nil {
			return nil, err
		}
	}
	return &r, nil
}

// injectBody writes ctx's trace context into the message's params._meta.
// The upstream decodes the new Body again (upstream.Request.Message).
func (u *tracedUpstream) injectBody(ctx context.Context, r *upstream.Request) error {
	carrier := propagation.MapCarrier{}
	u.t.prop.Inject(ctx, carrier)
	out, err := injectMeta(r.Body, carrier)
	if err != nil {
		return err
	}
	r.Body = out
	return nil
}

func (u *tracedUpstream) Get(ctx context.Context, req *upstream.Request) (upstream.Reply, error) {
	r, _ := u.outgoing(ctx, req, false) // no error without a body to rewrite
	return u.Upstream.Get(ctx, r)
}

func (u *tracedUpstream) Delete(ctx context.Context, req *upstream.Request) error {
	r, _ := u.outgoing(ctx, req, false)
	return u.Upstream.Delete(ctx, r)
}

var _ upstream.Upstream = (*tracedUpstream)(nil)
