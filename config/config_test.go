package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte(`
servers:
  - name: everything
    stdio:
      command: ["./bin/mcpfort-everything"]
`), "/etc/mcpfort")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.PublicURL != "http://127.0.0.1:8080" || c.State.Dir != "/etc/mcpfort" || c.State.Database != "sqlite" {
		t.Fatalf("defaults: %+v", c)
	}
	s := c.Servers[0]
	if s.Path != "/everything/mcp" || s.Era != "auto" || s.Stdio.Isolation != "per_session" || s.Stdio.MaxProcesses != 64 || s.Stdio.QueueTimeout.D() != 10*time.Second {
		t.Fatalf("server defaults: %+v %+v", s, s.Stdio)
	}
	if c.HTTP.MaxBody != DefaultMaxBody || c.Sessions.TTL.D() != DefaultSessionTTL || len(c.HTTP.TrustedProxies) != 0 || c.HTTP.ClientIPHeader != "x-forwarded-for" {
		t.Fatalf("http/session defaults: %+v", c.HTTP)
	}
	if len(s.Auth.Scopes) != 0 {
		t.Fatalf("open route scopes: %v", s.Auth.Scopes)
	}
	if c.Log.FlushInterval == nil || c.Log.FlushInterval.D() != DefaultLogFlushInterval {
		t.Fatalf("log.flush_interval default: %v", c.Log.FlushInterval)
	}
	if c, err := Parse([]byte("log: {flush_interval: 0s}\nservers: [{name: a, http: {url: 'http://u'}}]\n"), "/"); err != nil || c.Log.FlushInterval.D() != 0 {
		t.Fatalf("log.flush_interval 0 must stay 0 (off): %v %v", c, err)
	}
	// A route on the embedded authorization server advertises a scope.
	if got := c.Resolve("bin/x"); got != "/etc/mcpfort/bin/x" {
		t.Fatalf("Resolve = %q", got)
	}
	c, err = Parse([]byte("authserver: {enabled: true}\nservers: [{name: a, http: {url: 'http://u'}}]\n"), "/")
	if err != nil || len(c.Servers[0].Auth.Scopes) != 1 || c.Servers[0].Auth.Scopes[0] != DefaultScope {
		t.Fatalf("embedded route scopes: %v %v", c.Servers[0].Auth.Scopes, err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings, each must appear
	}{
		{"unknown key", "servers: []\nlisen: x\n", []string{"lisen"}},
		{"unknown nested key", "servers:\n  - name: a\n    stdio: {command: [x], isolaton: shared}\n", []string{"isolaton"}},
		{"bad duration", "sessions: {ttl: forever}\nservers: []\n", []string{"invalid duration"}},
		{"bad size", "http: {max_body: lots}\nservers: []\n", []string{"invalid size"}},
		{"two documents", "servers: []\n---\nservers: []\n", []string{"single YAML document"}},
		{"every problem at once", `
listen: nowhere
log: {level: loud, format: xml}
http: {max_body: 10, allowed_origins: ["not a url"]}
sessions: {secrets: [{}]}
servers:
  - name: "bad name"
    era: medieval
  - name: dup
    http: {url: "ftp://x"}
  - name: dup
    stdio: {command: [], isolation: lonely}
`, []string{
			"listen: must be host:port",
			"log.level:", "log.format:", "http.max_body:", "http.allowed_origins[0]:", "sessions.secrets[0]:",
			"servers[0].name:", "servers[0].era:", "servers[0]: set exactly one of http, sse, stdio and aggregate",
			"servers[1].http.url:", "servers[2].name: duplicate", "servers[2].path: duplicate",
			"servers[2].stdio.command: required", "servers[2].stdio.isolation:",
		}},
		{"trusted proxies", "http: {trusted_proxies: ['10.0.0.1/8', 'lb.example', '10.0.0.0/8'], client_ip_header: x-real-ip}\nservers: [{name: a, http: {url: 'http://u'}}]\n",
			[]string{"http.trusted_proxies[0]:", "http.trusted_proxies[1]:", "http.client_ip_header:"}},
		{"no servers", "listen: 127.0.0.1:1\n", []string{"servers: at least one server"}},
		{"log flush interval", "log: {flush_interval: -1s}\nservers: [{name: a, http: {url: 'http://u'}}]\n",
			[]string{"log.flush_interval: must be between 0 and 10s, got -1s"}},
		{"log flush interval too long", "log: {flush_interval: 1m}\nservers: [{name: a, http: {url: 'http://u'}}]\n",
			[]string{"log.flush_interval: must be between 0 and 10s, got 1m0s"}},
		{"require_dpop on an open route", "servers: [{name: a, http: {url: 'http://u'}, auth: {required: false, require_dpop: true}}]\n",
			[]string{"servers[0].auth.require_dpop: needs auth.required"}},
		{"route scope grants a tool scope", `
authserver: {enabled: true}
servers:
  - name: a
    http: {url: "http://u"}
    auth: {scopes: [mcp], tools: {delete_*: ["mcp:admin"]}}
`, []string{`servers[0].auth.tools: entry "delete_*" needs "mcp:admin", which the route scope "mcp" grants`}},
		{"grant of an unknown scope", `
authserver: {enabled: true}
servers:
  - name: a
    http: {url: "http://u"}
    auth: {grants: [{scopes: [root], groups: [admins]}, {scopes: [mcp:access]}]}
`, []string{`servers[0].auth.grants[0].scopes: "root" is not a scope`, "servers[0].auth.grants[1]: needs scopes and groups"}},
		{"machine client resource", `
authserver: {enabled: true, clients: [{id: m, resources: [nowhere]}]}
servers: [{name: a, http: {url: "http://u"}}]
`, []string{`authserver.clients[0].resources: "nowhere" is neither`}},
		{"stdio warm", `
servers:
  - {name: a, stdio: {command: [x], warm: -1}}
  - {name: b, stdio: {command: [x], isolation: shared, warm: 2}}
  - {name: c, stdio: {command: [x], max_processes: 3, warm: 4}}
`, []string{"servers[0].stdio.warm: must not be negative", "servers[1].stdio.warm: needs isolation per_session",
			"servers[2].stdio.warm: must not exceed max_processes (3)"}},
		{"well-known path", "servers: [{name: a, path: /.well-known/x, http: {url: 'http://u'}}]\n", []string{"servers[0].path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "/")
			if err == nil {
				t.Fatal("Parse accepted invalid configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"10": 10, "4MiB": 4 << 20, "64 KiB": 64 << 10, "1GB": 1e9} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"-1", "x", "99999999999999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("servers: [{name: a, stdio: {command: [x]}}]\n"))
	f.Add([]byte("listen: ':0'\nhttp: {max_body: 1MiB}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(b, "/") // never panics
	})
}

func TestRouteAuthRules(t *testing.T) {
	c, err := Parse([]byte(`
auth: {issuers: [{issuer: "https://idp.example", groups_claim: "realm_access.roles"}]}
servers:
  - name: a
    http: {url: "https://up.example/mcp"}
    auth:
      groups: [staff]
      methods: {"resources/subscribe": {groups: [admins]}}
      tools:
        "delete_*": [mcp:admin]
        deploy: {scopes: [mcp:tools], groups: [ops, admins]}
        "payroll_*": {claims: {department: [finance, hr]}}
      prompts:
        secret: &admins {groups: [admins]}
      resources:
        "file:///secret/*": *admins
`), "/")
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.Issuers[0].GroupsClaim != "realm_access.roles" {
		t.Errorf("groups_claim = %q", c.Auth.Issuers[0].GroupsClaim)
	}
	a := c.Servers[0].Auth
	want := map[string]Requirement{
		"delete_*":  {Scopes: []string{"mcp:admin"}},
		"deploy":    {Scopes: []string{"mcp:tools"}, Groups: []string{"ops", "admins"}},
		"payroll_*": {Claims: map[string][]string{"department": {"finance", "hr"}}},
	}
	if diff := cmp.Diff(want, a.Tools); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	if !cmp.Equal(a.Groups, []string{"staff"}) || !cmp.Equal(a.Methods["resources/subscribe"].Groups, []string{"admins"}) ||
		!cmp.Equal(a.Prompts["secret"].Groups, []string{"admins"}) || !cmp.Equal(a.Resources["file:///secret/*"].Groups, []string{"admins"}) {
		t.Errorf("auth = %+v", a)
	}

	for _, tt := range []struct{ rule, want string }{
		{`{group: [admins]}`, "field group not found"},
		{`{}`, "at least one scope, group or claim"},
		{`[]`, "at least one scope, group or claim"},
		{`admin`, "a list of scopes or a mapping"},
		{`{claims: {dept: []}}`, `claim "dept" needs a name and at least one value`},
		{`{groups: [""]}`, "empty scope or group name"},
		{`{groups: [a], groups: [b]}`, "already defined"},
	} {
		_, err := Parse([]byte(`
auth: {issuers: [{issuer: "https://idp.example"}]}
servers:
  - name: a
    http: {url: "https://up.example/mcp"}
    auth: {tools: {x: `+tt.rule+`}}
`), "/")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("rule %s: error %v, want %q", tt.rule, err, tt.want)
		}
	}
}

// TestToolsTTL checks policies.tools_ttl: its default, a server's
// override, and the deprecated keys it replaces, which set it when it is
// unset (the smaller of them wins).
func TestToolsTTL(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []time.Duration // per server
	}{
		{"default", "servers: [{name: a, http: {url: 'http://u'}}]", []time.Duration{time.Minute}},
		{"top level and override", "policies: {tools_ttl: 5m}\nservers: [{name: a, http: {url: 'http://u'}}, {name: b, http: {url: 'http://u'}, policies: {tools_ttl: 10s}}]",
			[]time.Duration{5 * time.Minute, 10 * time.Second}},
		{"deprecated schema_ttl", "policies: {schema: {schema_ttl: 15m}}\nservers: [{name: a, http: {url: 'http://u'}}]", []time.Duration{15 * time.Minute}},
		{"deprecated keys, smaller wins", "policies: {schema: {schema_ttl: 15m}}\npinning: {refresh_interval: 30s}\nservers: [{name: a, http: {url: 'http://u'}}]",
			[]time.Duration{30 * time.Second}},
		{"tools_ttl beats deprecated keys", "policies: {tools_ttl: 2m, schema: {schema_ttl: 15m}}\npinning: {refresh_interval: 30s}\nservers: [{name: a, http: {url: 'http://u'}}]",
			[]time.Duration{2 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), "/")
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				if got := c.Servers[i].Policies.ToolsTTL.D(); got != want {
					t.Errorf("server %d: tools_ttl %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestSSEUpstream: an HTTP+SSE upstream takes the keys of an HTTP one, is
// legacy-era by default, and has bounds by default.
func TestSSEUpstream(t *testing.T) {
	c, err := Parse([]byte(`
servers:
  - name: old
    legacy_sse: true
    sse: {url: "http://127.0.0.1:3001/sse", bearer_token: {env: TOK}}
`), "/etc/mcpfort")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Servers[0]
	if s.Era != "legacy" || !s.LegacySSE || s.SSE.MaxConnections != 1000 || s.SSE.IdleTimeout.D() != 10*time.Minute || s.SSE.MaxMessage != 16<<20 {
		t.Fatalf("sse defaults: %+v %+v", s, s.SSE)
	}
	if r := s.Remote(); r == nil || r.URL != "http://127.0.0.1:3001/sse" || r.BearerToken == nil || r.BearerToken.Ref != "env:TOK" {
		t.Fatalf("Remote() = %+v", r)
	}
}

func TestAggregateUpstream(t *testing.T) {
	c, err := Parse([]byte(`
servers:
  - name: team
    aggregate:
      upstreams:
        - {name: ev, prefix: ev_, http: {url: "http://127.0.0.1:3001/mcp", bearer_token: "env:TOK"}}
        - {name: fs, prefix: fs_, stdio: {command: [server]}, tools: {deny: ["delete_*"]}}
        - {name: rest, sse: {url: "http://127.0.0.1:3002/sse"}}
`), "/etc/mcpfort")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Servers[0]
	ag := s.Aggregate
	if s.Era != "legacy" || ag.Timeout.D() != 5*time.Second || ag.MaxItems != 10000 {
		t.Fatalf("aggregate defaults: %+v %+v", s, ag)
	}
	if ag.Upstreams[0].HTTP.MaxMessage != 16<<20 || ag.Upstreams[1].Stdio.MaxProcesses != 64 || ag.Upstreams[2].SSE.MaxConnections != 1000 {
		t.Fatal("member defaults not applied")
	}
	if !ag.Local() || len(c.UpstreamServers()) != 3 || c.UpstreamServers()[1].Name != "team.fs" {
		t.Fatalf("UpstreamServers = %+v", c.UpstreamServers())
	}
	refs := c.SecretRefs()
	if len(refs) != 1 || refs[0].Field != "servers[0].aggregate.upstreams[0].http.bearer_token" {
		t.Fatalf("SecretRefs = %+v", refs)
	}
	for _, tt := range []struct{ yaml, want string }{
		{`[{name: a, prefix: x_, http: {url: "http://u"}}, {name: b, prefix: x_, http: {url: "http://v"}}]`, "is the prefix of upstream"},
		{`[{name: a, prefix: x_, http: {url: "http://u"}}, {name: b, prefix: x_y, http: {url: "http://v"}}]`, "overlap"},
		{`[{name: a, http: {url: "http://u"}}, {name: b, http: {url: "http://v"}}]`, "names would collide"},
		{`[{name: a, prefix: a, http: {url: "http://u"}}, {name: a, prefix: b, http: {url: "http://v"}}]`, "used by another"},
		{`[{name: a, prefix: a, http: {url: "http://u"}, stdio: {command: [x]}}]`, "exactly one of http, sse and stdio"},
		{`[{name: a, prefix: a, http: {url: "ftp://u"}}]`, "upstreams[0].http"},
		{`[{name: a, prefix: a, http: {url: "http://u"}, tools: {allow: ["[x"]}}]`, "bad pattern"},
		{`[]`, "at least one upstream"},
		{`[{name: a, prefix: a, era: dual, http: {url: "http://u"}}]`, "must be legacy, modern or auto"},
		{`[{name: a, prefix: a, era: modern, sse: {url: "http://u"}}]`, "era must be legacy"},
	} {
		_, err := Parse([]byte("servers: [{name: team, aggregate: {upstreams: "+tt.yaml+"}}]\n"), "/")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.yaml, err, tt.want)
		}
	}
	_, err = Parse([]byte("servers: [{name: team, era: modern, aggregate: {upstreams: [{name: a, http: {url: 'http://u'}}]}}]\n"), "/")
	if err == nil || !strings.Contains(err.Error(), "era must be legacy") {
		t.Fatalf("era: %v", err)
	}
}

// TestUserOAuthNeedsBrowserIdentity: user_oauth is refused unless the
// gateway can read the browser's sign-in session of the user a connect
// link is for (the embedded authorization server, on public_url's
// origin, the only trusted issuer).
func TestUserOAuthNeedsBrowserIdentity(t *testing.T) {
	const route = "servers: [{name: a, http: {url: 'https://u.example/mcp', user_oauth: {client_id: c}}}]\n"
	for name, tt := range map[string]struct{ yaml, want string }{
		"no authorization server": {"auth: {issuers: [{issuer: 'https://idp.example'}]}\n" + route, "needs the embedded authorization server"},
		"external issuers":        {"authserver: {enabled: true}\nauth: {issuers: [{issuer: 'https://idp.example'}]}\n" + route, "not available with auth.issuers"},
		"issuer elsewhere":        {"public_url: https://gw.example\nauthserver: {enabled: true, issuer: 'https://as.example'}\n" + route, "on the origin of public_url"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "/")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Parse([]byte("public_url: https://gw.example\nauthserver: {enabled: true}\n"+route), "/"); err != nil {
		t.Fatal(err)
	}
}
