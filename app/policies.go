package app

import (
	"fmt"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/gateway"
	"github.com/mcpfort/mcpfort/gateway/policy/headers"
	"github.com/mcpfort/mcpfort/gateway/policy/pii"
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
	rdb, err := a.redis()
	if err != nil {
		return nil, err
	}
	if rdb != nil {
		// Each Take is bounded by the Limiter's rate_limit.timeout.
		s, err := redisstore.New(rdb, redisstore.Options{})
		if err != nil {
			return nil, fmt.Errorf("rate limit store: %w", err)
		}
		a.limits = s
		return s, nil
	}
	s, err := ratelimit.NewLocal(ratelimit.LocalOptions{})
	if err != nil {
		return nil, err
	}
	a.limits = s
	return s, nil
}

// rateLimitPolicy builds a route's rate limits, or nil when it has none.
func (a *App) rateLimitPolicy(s config.Server) (gateway.Middleware, error) {
	p := s.Policies
	if len(p.RateLimits) == 0 {
		return nil, nil
	}
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
		rules = append(rules, ratelimit.Rule{Name: r.Name, By: by, Limit: r.Limit, Period: r.Period.D(), Burst: r.Burst, Methods: r.Methods, Tools: r.Tools})
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
	return l.Wrap, nil
}

// toolFilterPolicy builds a route's tool filter, or nil when it has none.
func (a *App) toolFilterPolicy(s config.Server) (gateway.Middleware, error) {
	tf := s.Policies.ToolFilter
	if tf == nil {
		return nil, nil
	}
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
	return f.Wrap, nil
}

// schemaPolicy builds a route's argument checks, or nil when they are off.
func (a *App) schemaPolicy(s config.Server) (gateway.Middleware, error) {
	sc := s.Policies.Schema
	if sc == nil || !*sc.Enabled {
		return nil, nil
	}
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
		AllowUncheckableSchemas: sc.AllowUncheckableSchemas, Logger: a.log.With("route", s.Name)})
	if err != nil {
		return nil, fmt.Errorf("policies.schema: %w", err)
	}
	return v.Wrap, nil
}

// pinningPolicy returns the shared pinning policy on the routes that
// enable it (buildPinning built it), nil elsewhere.
func (a *App) pinningPolicy(s config.Server) (gateway.Middleware, error) {
	if p := s.Policies.Pinning; p == nil || !p.Enabled || a.pinning == nil {
		return nil, nil
	}
	return a.pinning.Wrap, nil
}

// piiRoutePolicy builds a route's PII masking, or nil when it has none.
func (a *App) piiRoutePolicy(s config.Server) (gateway.Middleware, error) {
	if s.Policies.PII == nil {
		return nil, nil
	}
	pp, err := piiPolicy(s.Policies.PII, func() *pii.Options { return &pii.Options{Logger: a.log.With("route", s.Name, "policy", "pii")} })
	if err != nil {
		return nil, fmt.Errorf("policies.pii: %w", err)
	}
	return pp.Wrap, nil
}

// piiPolicy builds a route's PII policy, or nil when it has none.
func piiPolicy(c *config.PII, log func() *pii.Options) (*pii.Policy, error) {
	if c == nil {
		return nil, nil
	}
	rule := func(r config.PIIRule) (pii.Rule, error) {
		var out pii.Rule
		var err error
		if out.Arguments, err = pii.ParseAction(r.Arguments); err != nil {
			return out, err
		}
		if out.Results, err = pii.ParseAction(r.Results); err != nil {
			return out, err
		}
		out.Logs, err = pii.ParseAction(r.Logs)
		return out, err
	}
	o := log()
	var err error
	if o.Default, err = rule(c.Default); err != nil {
		return nil, err
	}
	for name, r := range c.Detectors {
		k, err := pii.ParseKind(name)
		if err != nil {
			return nil, err
		}
		if o.Detectors == nil {
			o.Detectors = map[pii.Kind]pii.Rule{}
		}
		if o.Detectors[k], err = rule(r); err != nil {
			return nil, err
		}
	}
	for _, n := range c.NationalIDs {
		r, err := rule(n.Rule)
		if err != nil {
			return nil, err
		}
		o.NationalIDs = append(o.NationalIDs, pii.NationalIDPattern{Name: n.Name, Pattern: n.Pattern, Rule: r})
	}
	return pii.New(*o)
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
