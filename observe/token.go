package observe

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/transport"
)

// SpanTokenValidation names the child span of a SERVER span that covers
// the bearer-token validation of its request.
const SpanTokenValidation = "token validation"

// tokenSpan records the request's token validation as a child of the
// SERVER span in ctx, with its own start and end: validation ran before
// the SERVER span started, since the caller's trace context is trusted
// only once the token is, so the child begins before its parent. Only
// validations that passed reach here (a refused token never gets to the
// MCP plane); it is called only for a recording SERVER span.
func (t *Telemetry) tokenSpan(ctx context.Context, rl *transport.RequestLog) {
	if rl.TokenStart.IsZero() {
		return
	}
	_, span := t.tracer.Start(ctx, SpanTokenValidation, trace.WithTimestamp(rl.TokenStart),
		trace.WithAttributes(attribute.String(AttrCache, rl.TokenCache), attribute.String(AttrResult, "ok")))
	span.End(trace.WithTimestamp(rl.TokenStart.Add(rl.TokenTime)))
}
