package observe

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/upstream"
	"github.com/mcpfort/mcpfort/jsonrpc"
)

// PolicyRateLimit is the policy name whose HTTP 429 refusals also count as
// rate-limit rejections.
const PolicyRateLimit = "rate_limit"

// maxSlots bounds the policies of one chain that get their own state
// (slots are handed out in order, so a chain's policies never share one).
const maxSlots = 16

// callState is what the policy wrappers of one operation share: which
// policies passed the call on, and their open spans. It is part of the
// operation's allocation (serverOp) and reaches the wrappers as the call's
// Observation.
type callState struct {
	// parent is the SERVER span's context while that span records; the
	// policies' spans are its children. Invalid otherwise: no policy
	// span is recorded (under a span that is not recorded, none could
	// be).
	parent trace.SpanContext
	passed uint16
	// spans are the policies' open spans, by slot: allocated with the
	// operation while its SERVER span records, nil otherwise (metrics
	// alone need only passed).
	spans *[maxSlots]*lightSpan
}

// Policy wraps one MCP-plane policy: a child span "policy {name}" that
// covers the policy's decision (it ends when the policy passes the call
// on, so the next policies' spans and the upstream's CLIENT span are its
// siblings under the SERVER span), and the mcpfort.policy.decisions
// counter. A refusal records its JSON-RPC code as the reason; a rate
// limit's 429 counts in mcpfort.ratelimit.rejections too. It observes
// only calls that went through Middleware first (their Observation).
//
// The span is a lightSpan: recorded when the SERVER span is, with the
// policy's name as its one attribute on a pass (a slice built here, once)
// and the decision and reason added on a refusal.
func (t *Telemetry) Policy(name string, m gateway.Middleware) gateway.Middleware {
	policyAttr := attribute.String(AttrPolicy, name)
	passAttrs := []attribute.KeyValue{policyAttr}
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
			if st, ok := c.Observation.(*callState); ok && st.passed&bit == 0 {
				st.passed |= bit
				if st.spans != nil {
					if s := st.spans[slot]; s != nil {
						st.spans[slot] = nil
						s.finish(time.Now())
					}
				}
			}
			return next(ctx, c)
		})
		return func(ctx context.Context, c *gateway.Call) (upstream.Reply, error) {
			st, ok := c.Observation.(*callState)
			if !ok {
				return inner(ctx, c)
			}
			st.passed &^= bit
			var span *lightSpan
			if st.parent.IsValid() {
				span = t.newLightSpan(st.parent, spanName, time.Now(), passAttrs)
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
			if st.spans != nil {
				st.spans[slot] = nil
			}
			reason := "answered"
			status := 0
			if err != nil {
				reason, status = refusalReason(err)
			}
			if span != nil {
				span.attrs = []attribute.KeyValue{policyAttr, attribute.String(AttrDecision, "deny"), attribute.String(AttrReason, reason)}
				if err != nil {
					span.status = sdktrace.Status{Code: codes.Error, Description: err.Error()}
				}
				span.finish(time.Now())
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
