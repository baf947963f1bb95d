package app

import (
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/observe"
)

// chain builds a route's MCP-plane policies, outermost first. This list is
// the one place their order is stated; a policy a route does not use is
// left out.
//
// The order is a security argument, read from the client inwards:
//
//  1. audit: outermost, so every call is recorded, refused ones included
//     (by the gate too);
//  2. scopes: a caller lacking a scope, group or claim is refused before
//     any other policy spends work on it or tells it more;
//  3. rate limits: after scopes, so unauthorized calls cost no one's
//     budget, but before the filters, so refused probes still count;
//  4. tool filter: hidden tools are refused and left out of lists before
//     anything else looks at them;
//  5. the gate (not a policy of this list: gateway.Options.Gate and the
//     gateway's own Mcp-Param-* checks): the token vault answers a user
//     without a grant at the upstream, and nothing before it reaches the
//     upstream, so a call refused above never asks a user to connect;
//  6. schema checks: only calls that may proceed are validated;
//  7. pinning: what comes back from tools/list is compared with the
//     approved definitions before any client sees it;
//  8. PII masking: innermost, so it sees exactly the bytes that go
//     upstream and is the first to see what comes back.
//
// outer goes before the gate (gateway.Options.Outer), inner after it
// (gateway.Options.Middleware). scopes is the route's scope policy (nil on
// open routes).
func (a *App) chain(s config.Server, scopes gateway.Middleware) (outer, inner []gateway.Middleware, err error) {
	const gate = "gate"
	order := []struct {
		name  string
		build func(config.Server) (gateway.Middleware, error)
	}{
		{"audit", a.auditPolicy},
		{"scopes", func(config.Server) (gateway.Middleware, error) { return scopes, nil }},
		{observe.PolicyRateLimit, a.rateLimitPolicy},
		{"tool_filter", a.toolFilterPolicy},
		{gate, nil},
		{"schema", a.schemaPolicy},
		{"pinning", a.pinningPolicy},
		{"pii", a.piiRoutePolicy},
	}
	// Outside them all, the route's SERVER span and operation metrics;
	// each policy gets a span and a decision count of its own.
	outer = []gateway.Middleware{a.tel.Middleware(s.Name)}
	chain := &outer
	for _, p := range order {
		if p.name == gate {
			chain = &inner
			continue
		}
		m, err := p.build(s)
		if err != nil {
			return nil, nil, err
		}
		if m != nil {
			*chain = append(*chain, a.tel.Policy(p.name, m))
		}
	}
	return outer, inner, nil
}

// auditPolicy returns the audit log (buildAudit opened it), shared by
// every route, or nil when it is off.
func (a *App) auditPolicy(config.Server) (gateway.Middleware, error) {
	if a.audit == nil {
		return nil, nil
	}
	return a.audit.Wrap, nil
}
