package observe

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/transport"
)

// SpanTokenValidation names the child span of a SERVER span that covers
// the bearer-token validation of its request.
const SpanTokenValidation = "token validation"

// tokenSpan records the request's token validation as a child of the
// SERVER span (parent, recording), with its own start and end: validation
// ran before the SERVER span started, since the caller's trace context is
// trusted only once the token is, so the child begins before its parent.
// Only validations that passed reach here (a refused token never gets to
// the MCP plane).
func (t *Telemetry) tokenSpan(parent trace.SpanContext, rl *transport.RequestLog) {
	if rl.TokenStart.IsZero() {
		return
	}
	s := t.newLightSpan(parent, SpanTokenValidation, rl.TokenStart,
		[]attribute.KeyValue{attribute.String(AttrCache, rl.TokenCache), attribute.String(AttrResult, "ok")})
	s.finish(rl.TokenStart.Add(rl.TokenTime))
}
