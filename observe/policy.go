package observe

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// PolicyRateLimit is the policy name whose HTTP 429 refusals also count as
// rate-limit rejections.
const PolicyRateLimit = "rate_limit"

type policyKey struct{}

// policyState is one policy's span on its way through the chain.
type policyState struct {
	parent trace.Span
	span   trace.Span
	passed bool
}

// Policy wraps one MCP-plane policy: a child span "policy {name}" that
// covers the policy's decision (it ends when the policy passes the call
// on, so the next policies' spans and the upstream's CLIENT span are its
// siblings under the SERVER span), and the mcpfort.policy.decisions
// counter. A refusal records its JSON-RPC code as the reason; a rate
// limit's 429 counts in mcpfort.ratelimit.rejections too.
func (t *Telemetry) Policy(name string, m gateway.Middleware) gateway.Middleware {
	policyAttr := attribute.String(AttrPolicy, name)
	allow := metric.WithAttributes(policyAttr, attribute.String(AttrDecision, "allow"))
	return func(next gateway.Handler) gateway.Handler {
		inner := m(func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if ps, ok := ctx.Value(policyKey{}).(*policyState); ok && !ps.passed {
				ps.passed = true
				ps.span.End()
				ctx = trace.ContextWithSpan(ctx, ps.parent)
			}
			return next(ctx, c)
		})
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if c.Stream || c.Msg == nil || c.Msg.Method == "" {
				return inner(ctx, c)
			}
			ps := &policyState{parent: trace.SpanFromContext(ctx)}
			var pctx context.Context
			pctx, ps.span = t.tracer.Start(ctx, "policy "+name)
			if ps.span.IsRecording() {
				ps.span.SetAttributes(policyAttr)
			}
			reply, err := inner(context.WithValue(pctx, policyKey{}, ps), c)
			if ps.passed {
				t.inst.decisions.Add(pctx, 1, allow)
				return reply, err
			}
			// The policy answered without passing the call on: a refusal
			// (or, rarely, an answer of its own).
			reason := "answered"
			status := 0
			if err != nil {
				reason, status = refusalReason(err)
			}
			attrs := []attribute.KeyValue{policyAttr, attribute.String(AttrDecision, "deny"), attribute.String(AttrReason, reason)}
			if ps.span.IsRecording() {
				ps.span.SetAttributes(attrs[1:]...)
				if err != nil {
					ps.span.SetStatus(codes.Error, err.Error())
				}
			}
			ps.span.End()
			t.inst.decisions.Add(pctx, 1, metric.WithAttributes(attrs...))
			if name == PolicyRateLimit && status == http.StatusTooManyRequests {
				t.inst.rateLimited.Add(pctx, 1, metric.WithAttributes(attribute.String(AttrRoute, c.Route)))
			}
			return reply, err
		}
	}
}

// refusalReason is a refusal's low-cardinality reason: its JSON-RPC code,
// and its HTTP status when it has one.
func refusalReason(err error) (string, int) {
	var ge *gateway.Error
	if errors.As(err, &ge) && ge.RPC != nil {
		return strconv.FormatInt(ge.RPC.Code, 10), ge.Status
	}
	var re *jsonrpc.Error
	if errors.As(err, &re) {
		return strconv.FormatInt(re.Code, 10), 0
	}
	return "error", 0
}
