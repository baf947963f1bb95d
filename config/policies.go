package config

import (
	"fmt"
	"time"
)

// Policies are the MCP-plane policies of a route. A top-level policies
// section is the default for every server; a server's own section
// replaces it part by part (a non-empty rate_limits list replaces the
// default list, a tool_filter replaces the default filter, and so on).
type Policies struct {
	// RateLimits are limits keyed by principal subject, client, server and
	// tool (never by session, so a new session resets nothing). Over the
	// limit: JSON-RPC -31004 with data.retryAfter, HTTP 429 with
	// Retry-After. Buckets live in Redis when state.redis is set, in
	// memory otherwise.
	RateLimits []RateLimit `yaml:"rate_limits"`
	// ToolCosts weigh tools/call against the rate limits (default 1).
	ToolCosts []ToolCost `yaml:"tool_costs"`
	// ToolFilter hides and refuses tools, prompts and resources.
	ToolFilter *ToolFilter `yaml:"tool_filter"`
	// Schema checks tools/call arguments against the tool's inputSchema
	// (JSON Schema 2020-12) and operator constraints before the upstream
	// is called. On by default.
	Schema *Schema `yaml:"schema"`
}

// RateLimit is one limit.
type RateLimit struct {
	// Name identifies the limit; limits of the same name share buckets
	// across routes. Required.
	Name string `yaml:"name"`
	// By lists the key dimensions: subject, client, server, tool.
	By []string `yaml:"by"`
	// Limit calls per Period. Required.
	Limit  int64    `yaml:"limit"`
	Period Duration `yaml:"period"`
	// Burst allows this many calls at once beyond the steady rate.
	Burst int64 `yaml:"burst"`
	// Methods restricts the limit to these MCP methods (default: all
	// requests).
	Methods []string `yaml:"methods"`
}

// ToolCost weighs calls to tools matching Tool (a name or glob).
type ToolCost struct {
	Tool string `yaml:"tool"`
	Cost int64  `yaml:"cost"`
}

// FilterRules are allow and deny lists of names (URIs for resources) or
// glob patterns. Deny wins; an empty allow list allows everything.
type FilterRules struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// ToolFilter configures the tool filter.
type ToolFilter struct {
	Tools     FilterRules `yaml:"tools"`
	Prompts   FilterRules `yaml:"prompts"`
	Resources FilterRules `yaml:"resources"`
	// Scopes grant what their allow lists name to principals holding the
	// scope, and hide it from everyone else.
	Scopes map[string]ScopedFilter `yaml:"scopes"`
}

// ScopedFilter is the part of a tool filter tied to one scope.
type ScopedFilter struct {
	Tools     FilterRules `yaml:"tools"`
	Prompts   FilterRules `yaml:"prompts"`
	Resources FilterRules `yaml:"resources"`
}

// Schema configures argument checks.
type Schema struct {
	// Enabled turns the check on. Default true.
	Enabled *bool `yaml:"enabled"`
	// AllowUnknownTools passes calls to tools the upstream does not list
	// (default: refused with -32602).
	AllowUnknownTools bool `yaml:"allow_unknown_tools"`
	// AllowUncheckableSchemas passes calls to tools whose schema cannot be
	// compiled safely (default: refused).
	AllowUncheckableSchemas bool `yaml:"allow_uncheckable_schemas"`
	// SchemaTTL is how long a learned tool definition is trusted before it
	// is fetched again. Default 15m.
	SchemaTTL Duration `yaml:"schema_ttl"`
	// Constraints are operator rules layered on top of the schemas.
	Constraints []ToolConstraints `yaml:"constraints"`
}

// ToolConstraints are argument rules for tools matching Tool.
type ToolConstraints struct {
	Tool string          `yaml:"tool"`
	Args []ArgConstraint `yaml:"args"`
}

// ArgConstraint constrains the argument at Path (a JSON Pointer into the
// arguments; "*" matches any member or element).
type ArgConstraint struct {
	Path        string   `yaml:"path"`
	Required    bool     `yaml:"required"`
	MinLength   int      `yaml:"min_length"`
	MaxLength   int      `yaml:"max_length"`
	MaxItems    int      `yaml:"max_items"`
	Pattern     string   `yaml:"pattern"`
	DenyPattern string   `yaml:"deny_pattern"`
	Enum        []any    `yaml:"enum"`
	Deny        []any    `yaml:"deny"`
	Minimum     *float64 `yaml:"minimum"`
	Maximum     *float64 `yaml:"maximum"`
}

// RateLimitStore configures the rate-limit buckets.
type RateLimitStore struct {
	// AllowOnStoreError lets calls through when Redis cannot be reached
	// (fail open). Default false: such calls are refused with 503.
	AllowOnStoreError bool `yaml:"allow_on_store_error"`
	// Timeout bounds one Redis round trip. Default 250ms.
	Timeout Duration `yaml:"timeout"`
}

// SecurityHeaders configures the response headers added to every answer
// (HSTS over TLS, nosniff, Referrer-Policy, no-store on authenticated
// responses, CSP on HTML).
type SecurityHeaders struct {
	// HSTSMaxAge is sent on TLS responses. Default 1 year (365d).
	HSTSMaxAge Duration `yaml:"hsts_max_age"`
	// HSTSIncludeSubdomains and HSTSPreload add those directives.
	HSTSIncludeSubdomains bool `yaml:"hsts_include_subdomains"`
	HSTSPreload           bool `yaml:"hsts_preload"`
	// TrustForwardedProto treats X-Forwarded-Proto/Forwarded proto=https
	// as TLS (only behind a proxy that sets them).
	TrustForwardedProto bool `yaml:"trust_forwarded_proto"`
}

// merge returns the server's policies over the defaults.
func (p Policies) merge(def Policies) Policies {
	if p.RateLimits == nil {
		p.RateLimits = def.RateLimits
	}
	if p.ToolCosts == nil {
		p.ToolCosts = def.ToolCosts
	}
	if p.ToolFilter == nil {
		p.ToolFilter = def.ToolFilter
	}
	if p.Schema == nil {
		p.Schema = def.Schema
	}
	return p
}

func (p *Policies) defaults() {
	if p.Schema == nil {
		p.Schema = &Schema{}
	}
	if p.Schema.Enabled == nil {
		on := true
		p.Schema.Enabled = &on
	}
	if p.Schema.SchemaTTL == 0 {
		p.Schema.SchemaTTL = Duration(15 * time.Minute)
	}
	for i := range p.RateLimits {
		if p.RateLimits[i].Period == 0 {
			p.RateLimits[i].Period = Duration(time.Minute)
		}
	}
}

func (p Policies) validate(at string, add func(path, format string, args ...any)) {
	names := map[string]bool{}
	for i, rl := range p.RateLimits {
		ap := fmt.Sprintf("%s.rate_limits[%d]", at, i)
		if rl.Name == "" {
			add(ap+".name", "required")
		} else if names[rl.Name] {
			add(ap+".name", "duplicate limit name %q", rl.Name)
		}
		names[rl.Name] = true
		if rl.Limit <= 0 {
			add(ap+".limit", "must be positive")
		}
		if rl.Period.D() <= 0 {
			add(ap+".period", "must be positive")
		}
		if rl.Burst < 0 {
			add(ap+".burst", "must not be negative")
		}
		for _, d := range rl.By {
			switch d {
			case "subject", "client", "server", "tool":
			default:
				add(ap+".by", "unknown dimension %q (subject, client, server, tool)", d)
			}
		}
	}
	for i, c := range p.ToolCosts {
		if c.Tool == "" || c.Cost < 0 {
			add(fmt.Sprintf("%s.tool_costs[%d]", at, i), "needs a tool and a non-negative cost")
		}
	}
	if s := p.Schema; s != nil {
		for i, tc := range s.Constraints {
			if tc.Tool == "" {
				add(fmt.Sprintf("%s.schema.constraints[%d].tool", at, i), "required")
			}
		}
	}
}
