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

// callKey holds the *callState the SERVER middleware makes for one
// operation.
type callKey struct{}

// maxSlots bounds the policies of one chain that get their own state
// (slots are handed out in order, so a chain's policies never share one).
const maxSlots = 16

// callState is what the policy wrappers of one operation share: which
// policies passed the call on, and their open spans. One allocation per
// operation, however many policies.
type callState struct {
	// unsampled is set when the SERVER span is not sampled and the
	// sampler is parent-based: its children would not be either, so
	// none is started.
	unsampled bool
	passed    uint16
	spans     [maxSlots]trace.Span
}

// Policy wraps one MCP-plane policy: a child span "policy {name}" that
// covers the policy's decision (it ends when the policy passes the call
// on, so the next policies' spans and the upstream's CLIENT span are its
// siblings under the SERVER span), and the mcpfort.policy.decisions
// counter. A refusal records its JSON-RPC code as the reason; a rate
// limit's 429 counts in mcpfort.ratelimit.rejections too. It observes
// only calls that went through Middleware first.
func (t *Telemetry) Policy(name string, m gateway.Middleware) gateway.Middleware {
	policyAttr := attribute.String(AttrPolicy, name)
	var allow *point
	if t.metering {
		allow = t.agg.point(aggDecisions, labels{kind: kindDecision, name: name, outcome: "allow"})
	}
	slot := uint(t.slots.Add(1)-1) % maxSlots
	bit := uint16(1) << slot
	spanName := "policy " + name
	if !t.tracing && !t.metering {
		return m // nothing to record
	}
	return func(next gateway.Handler) gateway.Handler {
		inner := m(func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			if st, ok := ctx.Value(callKey{}).(*callState); ok && st.passed&bit == 0 {
				st.passed |= bit
				if s := st.spans[slot]; s != nil {
					s.End()
					st.spans[slot] = nil
				}
			}
			return next(ctx, c)
		})
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			st, ok := ctx.Value(callKey{}).(*callState)
			if !ok {
				return inner(ctx, c)
			}
			st.passed &^= bit
			var span trace.Span
			if t.tracing && !st.unsampled {
				// The policy runs with the SERVER span as its context's
				// span: the spans after it are its siblings.
				_, span = t.tracer.Start(ctx, spanName)
				if span.IsRecording() {
					span.SetAttributes(policyAttr)
				}
				st.spans[slot] = span
			}
			reply, err := inner(ctx, c)
			if st.passed&bit != 0 {
				if allow != nil {
					allow.add()
				}
				return reply, err
			}
			// The policy answered without passing the call on: a refusal
			// (or, rarely, an answer of its own).
			st.spans[slot] = nil
			reason := "answered"
			status := 0
			if err != nil {
				reason, status = refusalReason(err)
			}
			attrs := []attribute.KeyValue{policyAttr, attribute.String(AttrDecision, "deny"), attribute.String(AttrReason, reason)}
			if span != nil {
				if span.IsRecording() {
					span.SetAttributes(attrs[1:]...)
					if err != nil {
						span.SetStatus(codes.Error, err.Error())
					}
				}
				span.End()
			}
			if t.metering {
				t.agg.point(aggDecisions, labels{kind: kindDecision, name: name, outcome: "deny", code: reason}).add()
			}
			if name == PolicyRateLimit && status == http.StatusTooManyRequests {
				t.inst.rateLimited.Add(ctx, 1, metric.WithAttributes(attribute.String(AttrRoute, c.Route)))
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
