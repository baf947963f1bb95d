package app

import (
	"context"
	"fmt"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/headers"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit"
	"github.com/mcpfort/mcpfort/gateway/policy/ratelimit/redisstore"
	"github.com/mcpfort/mcpfort/gateway/policy/schema"
	"github.com/mcpfort/mcpfort/gateway/policy/toolfilter"
)

// rateStore returns the rate-limit store shared by every route: Redis when
// state.redis is set (limits shared by replicas), memory otherwise.
func (a *App) rateStore() (ratelimit.Store, error) {
	if a.limits != nil {
		return a.limits, nil
	}
	if a.cfg.State.Redis != "" {
		s, err := redisstore.New(redisstore.Options{URL: a.cfg.State.Redis, Timeout: a.cfg.RateLimit.Timeout.D()})
		if err != nil {
			return nil, fmt.Errorf("rate limit store: %w", err)
		}
		a.limits = s
		a.closers = append(a.closers, func(context.Context) error { return s.Close() })
		return s, nil
	}
	s, err := ratelimit.NewLocal(ratelimit.LocalOptions{})
	if err != nil {
		return nil, err
	}
	a.limits = s
	return s, nil
}

// routePolicies builds a route's MCP-plane policies in chain order,
// outermost first:
//
//  1. rate limits: refused probes still count;
//  2. tool filter: hidden tools are refused before anything looks at them;
//  3. schema checks: only calls that may proceed are validated.
//
// Scope requirements (routeGuard) sit outside all of these.
func (a *App) routePolicies(s config.Server) ([]gateway.Middleware, error) {
	p := s.Policies
	var chain []gateway.Middleware
	if len(p.RateLimits) > 0 {
		store, err := a.rateStore()
		if err != nil {
			return nil, err
		}
		var rules []ratelimit.Rule
		for _, r := range p.RateLimits {
			var by []ratelimit.Dimension
			for _, d := range r.By {
				by = append(by, ratelimit.Dimension(d))
			}
			rules = append(rules, ratelimit.Rule{Name: r.Name, By: by, Limit: r.Limit, Period: r.Period.D(), Burst: r.Burst, Methods: r.Methods})
		}
		var costs []ratelimit.Cost
		for _, c := range p.ToolCosts {
			costs = append(costs, ratelimit.Cost{Tool: c.Tool, Cost: c.Cost})
		}
		l, err := ratelimit.New(ratelimit.Options{Rules: rules, Costs: costs, Store: store,
			Timeout: a.cfg.RateLimit.Timeout.D(), AllowOnStoreError: a.cfg.RateLimit.AllowOnStoreError, Logger: a.log.With("route", s.Name)})
		if err != nil {
			return nil, fmt.Errorf("policies.rate_limits: %w", err)
		}
		chain = append(chain, l.Wrap)
	}
	if tf := p.ToolFilter; tf != nil {
		o := toolfilter.Options{Tools: frules(tf.Tools), Prompts: frules(tf.Prompts), Resources: frules(tf.Resources)}
		if len(tf.Scopes) > 0 {
			o.Scopes = map[string]toolfilter.Scoped{}
			for sc, sf := range tf.Scopes {
				o.Scopes[sc] = toolfilter.Scoped{Tools: frules(sf.Tools), Prompts: frules(sf.Prompts), Resources: frules(sf.Resources)}
			}
		}
		f, err := toolfilter.New(o)
		if err != nil {
			return nil, fmt.Errorf("policies.tool_filter: %w", err)
		}
		chain = append(chain, f.Wrap)
	}
	if sc := p.Schema; sc != nil && *sc.Enabled {
		var cons []schema.ToolConstraints
		for _, tc := range sc.Constraints {
			var args []schema.Constraint
			for _, c := range tc.Args {
				args = append(args, schema.Constraint{Path: c.Path, Required: c.Required, MinLength: c.MinLength, MaxLength: c.MaxLength,
					MaxItems: c.MaxItems, Pattern: c.Pattern, DenyPattern: c.DenyPattern, Enum: c.Enum, Deny: c.Deny, Minimum: c.Minimum, Maximum: c.Maximum})
			}
			cons = append(cons, schema.ToolConstraints{Tool: tc.Tool, Args: args})
		}
		v, err := schema.New(schema.Options{Constraints: cons, AllowUnknownTools: sc.AllowUnknownTools,
			AllowUncheckableSchemas: sc.AllowUncheckableSchemas, SchemaTTL: sc.SchemaTTL.D(), Logger: a.log.With("route", s.Name)})
		if err != nil {
			return nil, fmt.Errorf("policies.schema: %w", err)
		}
		chain = append(chain, v.Wrap)
	}
	return chain, nil
}

func frules(r config.FilterRules) toolfilter.Rules {
	return toolfilter.Rules{Allow: r.Allow, Deny: r.Deny}
}

// securityHeaders wraps the whole handler with the response headers every
// answer carries, 401s and 403s included.
func (a *App) securityHeaders() (*headers.Headers, error) {
	sh := a.cfg.HTTP.SecurityHeaders
	return headers.New(headers.Options{HSTSMaxAge: sh.HSTSMaxAge.D(), HSTSIncludeSubdomains: sh.HSTSIncludeSubdomains,
		HSTSPreload: sh.HSTSPreload, TrustForwardedProto: sh.TrustForwardedProto, Logger: a.log})
}
