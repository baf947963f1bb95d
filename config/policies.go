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
	// PII masks, redacts or blocks personal data and secrets in arguments
	// going upstream, in results coming back and in what is logged. Off
	// unless configured.
	PII *PII `yaml:"pii"`
	// Pinning quarantines tool definitions that are new or changed until
	// an operator approves them (mcpfort tools approve). Off unless
	// configured.
	Pinning *Pinning `yaml:"pinning"`
	// ToolsTTL is how long the route's tool list, which schema checks,
	// pinning and the Mcp-Param-* header checks read tool definitions
	// from, is reused before the gateway lists the tools again (once per
	// caller identity). It bounds how long a definition the upstream
	// changes without notifying goes unnoticed. Default: the smaller of
	// the deprecated schema.schema_ttl and pinning.refresh_interval when
	// either is set, else 1m.
	ToolsTTL Duration `yaml:"tools_ttl"`
}

// PII configures the PII policy. Actions: off, mask, redact, block.
type PII struct {
	// Default applies to every detector without a rule of its own.
	// Default: mask arguments and results, redact in logs.
	Default PIIRule `yaml:"default"`
	// Detectors override Default per detector: secret, card, iban,
	// national_id, email, phone, ip.
	Detectors map[string]PIIRule `yaml:"detectors"`
	// NationalIDs are the national id formats to look for: presets by
	// name (us_ssn, uk_nino, es_dni, nl_bsn, in_aadhaar) or an RE2
	// pattern with a name.
	NationalIDs []NationalID `yaml:"national_ids"`
}

// PIIRule gives an action per direction.
type PIIRule struct {
	Arguments string `yaml:"arguments"`
	Results   string `yaml:"results"`
	Logs      string `yaml:"logs"`
}

// NationalID is one national id format.
type NationalID struct {
	Name    string  `yaml:"name"`
	Pattern string  `yaml:"pattern"`
	Rule    PIIRule `yaml:"rule"`
}

// Pinning configures tool-definition pinning on a server.
type Pinning struct {
	// Enabled turns pinning on for the server.
	Enabled bool `yaml:"enabled"`
	// TrustOnFirstUse approves a server's first full tool list (once,
	// across replicas); later changes are quarantined.
	TrustOnFirstUse bool `yaml:"trust_on_first_use"`
	// AllowFindings trusts definitions whose descriptions carry injection
	// cues (insecure: they are reported but not held back).
	AllowFindings bool `yaml:"allow_findings"`
	// AllowUnapproved reports unapproved tools but lets them through
	// (insecure: observation only).
	AllowUnapproved bool `yaml:"allow_unapproved"`
}

// PinningStore configures what is shared by the pinning of every server.
type PinningStore struct {
	// PinFile is a YAML file of approved definitions; for each server it
	// names it is that server's whole approved set.
	PinFile string `yaml:"pin_file"`
	// RefreshInterval is deprecated: use policies.tools_ttl, which it sets
	// when that is unset.
	RefreshInterval Duration `yaml:"refresh_interval"`
	// ExtraCues are more phrases (case-insensitive) that mark a
	// description as an injection attempt.
	ExtraCues []string `yaml:"extra_cues"`
}

// Audit configures the tamper-evident audit log: one hash-chained record
// per decision, in the state database (SQLite or PostgreSQL).
type Audit struct {
	// Enabled turns the audit log on. Default true.
	Enabled *bool `yaml:"enabled"`
	// KeyFile holds the chain key, which keys every record's hash
	// (HMAC-SHA256) and signs the heads, so that someone who can write the
	// database but not read this file cannot rewrite the chain. It is
	// created on first start (32 random bytes, mode 0600) sealed with the
	// key-encryption key (authserver.key_encryption_key, or
	// state.dir/authserver.kek), and never replaced. Replicas sharing a
	// database must share this file and the key-encryption key. A file
	// holding a bare key of at least 32 bytes is read as such. Default
	// state.dir/audit.key.
	KeyFile string `yaml:"key_file"`
	// Key, instead of KeyFile, takes the chain key from a secret
	// reference (at least 32 bytes, or 64 hex digits), for replicas that
	// keep their keys in a secret manager. It is read at start only: a
	// chain key is never replaced, so a changed value is logged and
	// ignored until a restart, which then refuses to start if the chain
	// does not verify with it.
	Key *SecretRef `yaml:"key"`
	// Heads writes signed chain heads outside the database, which
	// "mcpfort audit verify" checks the chain against.
	Heads AuditHeads `yaml:"heads"`
	// RecordArguments and RecordResults store arguments and results
	// (PII-masked) instead of only their hashes. Default false.
	RecordArguments bool `yaml:"record_arguments"`
	RecordResults   bool `yaml:"record_results"`
	// AllowUnrecorded lets calls through while the log cannot be written
	// (counted). Default false: they are refused with 503.
	AllowUnrecorded bool `yaml:"allow_unrecorded"`
	// ReplyBeforeWrite sends a call's response as soon as its record is
	// queued. Default false: the response waits until the record is
	// written (at most 10s while the database fails), so that a replica
	// killed at any moment has recorded every call a client saw answered.
	ReplyBeforeWrite bool `yaml:"reply_before_write"`
	// QueueSize bounds the records waiting to be written. Default 8192.
	QueueSize int `yaml:"queue_size"`
}

// AuditHeads configures the signed chain heads: the last record's
// sequence number and hash, signed with a key derived from the chain key,
// written when the gateway starts, at Interval while records are written,
// and at shutdown. Records written since the last head are protected by
// the chain alone.
type AuditHeads struct {
	// Interval between heads. Default 1m.
	Interval Duration `yaml:"interval"`
	// File receives the heads as JSON Lines, appended. "none" writes no
	// file ("mcpfort audit verify" then needs --heads). Default
	// state.dir/audit-heads.jsonl.
	File string `yaml:"file"`
	// Log writes each head to the operational log too. Default true.
	Log *bool `yaml:"log"`
	// InsecureDisable writes no heads at all: a removed tail with a
	// rewound head row then goes unseen. Default false.
	InsecureDisable bool `yaml:"insecure_disable"`
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
	// Tools restricts the limit to calls of these tools (names or globs,
	// such as one upstream's prefix in a virtual server: "ev_*").
	Tools []string `yaml:"tools"`
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
	// SchemaTTL is deprecated: use policies.tools_ttl, which it sets when
	// that is unset.
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
	if p.PII == nil {
		p.PII = def.PII
	}
	if p.Pinning == nil {
		p.Pinning = def.Pinning
	}
	if p.ToolsTTL == 0 {
		p.ToolsTTL = def.ToolsTTL
	}
	return p
}

// defaults fills in what the server left unset; refresh is the deprecated
// pinning.refresh_interval.
func (p *Policies) defaults(refresh Duration) {
	if p.Schema == nil {
		p.Schema = &Schema{}
	}
	if p.Schema.Enabled == nil {
		on := true
		p.Schema.Enabled = &on
	}
	if p.ToolsTTL == 0 {
		for _, d := range []Duration{p.Schema.SchemaTTL, refresh} {
			if d > 0 && (p.ToolsTTL == 0 || d < p.ToolsTTL) {
				p.ToolsTTL = d
			}
		}
	}
	if p.ToolsTTL == 0 {
		p.ToolsTTL = Duration(time.Minute)
	}
	for i := range p.RateLimits {
		if p.RateLimits[i].Period == 0 {
			p.RateLimits[i].Period = Duration(time.Minute)
		}
	}
}

// validate checks a policies section (the defaults or a server's own) at
// path at.
func (p Policies) validate(at string, add addFunc) {
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
	if pi := p.PII; pi != nil {
		pi.validate(at+".pii", add)
	}
	if s := p.Schema; s != nil {
		for i, tc := range s.Constraints {
			if tc.Tool == "" {
				add(fmt.Sprintf("%s.schema.constraints[%d].tool", at, i), "required")
			}
		}
	}
}

// validate checks the PII section at path at.
func (pi *PII) validate(at string, add addFunc) {
	actions := func(path string, r PIIRule) {
		for dir, a := range map[string]string{"arguments": r.Arguments, "results": r.Results, "logs": r.Logs} {
			switch a {
			case "", "off", "mask", "redact", "block":
			default:
				add(path+"."+dir, "must be off, mask, redact or block, got %q", a)
			}
		}
	}
	actions(at+".default", pi.Default)
	for k, r := range pi.Detectors {
		switch k {
		case "secret", "card", "iban", "national_id", "email", "phone", "ip":
		default:
			add(at+".detectors", "unknown detector %q", k)
		}
		actions(at+".detectors."+k, r)
	}
	for i, n := range pi.NationalIDs {
		if n.Name == "" {
			add(fmt.Sprintf("%s.national_ids[%d].name", at, i), "required")
		}
		actions(fmt.Sprintf("%s.national_ids[%d].rule", at, i), n.Rule)
	}
}
