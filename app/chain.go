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
//  1. audit: outermost, so every call is recorded, refused ones included;
//  2. scopes: a caller lacking a scope, group or claim is refused before
//     any other policy spends work on it or tells it more;
//  3. rate limits: after scopes, so unauthorized calls cost no one's
//     budget, but before the filters, so refused probes still count;
//  4. tool filter: hidden tools are refused and left out of lists before
//     anything else looks at them;
//  5. schema checks: only calls that may proceed are validated;
//  6. pinning: what comes back from tools/list is compared with the
//     approved definitions before any client sees it;
//  7. PII masking: innermost, so it sees exactly the bytes that go
//     upstream and is the first to see what comes back.
//
// scopes is the route's scope policy (nil on open routes).
func (a *App) chain(s config.Server, scopes gateway.Middleware) ([]gateway.Middleware, error) {
	order := []struct {
		name  string
		build func(config.Server) (gateway.Middleware, error)
	}{
		{"audit", a.auditPolicy},
		{"scopes", func(config.Server) (gateway.Middleware, error) { return scopes, nil }},
		{observe.PolicyRateLimit, a.rateLimitPolicy},
		{"tool_filter", a.toolFilterPolicy},
		{"schema", a.schemaPolicy},
		{"pinning", a.pinningPolicy},
		{"pii", a.piiRoutePolicy},
	}
	// Outside them all, the route's SERVER span and operation metrics;
	// each policy gets a span and a decision count of its own.
	chain := []gateway.Middleware{a.tel.Middleware(s.Name)}
	for _, p := range order {
		m, err := p.build(s)
		if err != nil {
			return nil, err
		}
		if m != nil {
			chain = append(chain, a.tel.Policy(p.name, m))
		}
	}
	return chain, nil
}

// auditPolicy returns the audit log (buildAudit opened it), shared by
// every route, or nil when it is off.
func (a *App) auditPolicy(config.Server) (gateway.Middleware, error) {
	if a.audit == nil {
		return nil, nil
	}
	return a.audit.Wrap, nil
}
