package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	// Listen is the address the HTTP server binds. Default
	// "127.0.0.1:8080" (loopback only, as the MCP transports recommend for
	// local servers).
	Listen string `yaml:"listen"`
	// PublicURL is the external base URL clients use to reach mcpfort
	// (scheme, host, optional port, no path). It names the canonical MCP
	// resource URIs and the issuer. Default "http://" + Listen.
	PublicURL string `yaml:"public_url"`
	// Log configures operational logs.
	Log Log `yaml:"log"`
	// State says where mcpfort keeps what must survive a restart.
	State State `yaml:"state"`
	// HTTP bounds what clients may send and how connections live.
	HTTP HTTP `yaml:"http"`
	// Sessions configures legacy-era MCP sessions.
	Sessions Sessions `yaml:"sessions"`
	// Auth configures token validation on the MCP routes. Without it (no
	// issuers), routes are open: anyone who can reach the listener may
	// call them, which is only right on loopback.
	Auth Auth `yaml:"auth"`
	// AuthServer is the embedded authorization server.
	AuthServer AuthServer `yaml:"authserver"`
	// Policies are the default MCP-plane policies of every server.
	Policies Policies `yaml:"policies"`
	// RateLimit configures the rate-limit store shared by all routes.
	RateLimit RateLimitStore `yaml:"rate_limit"`
	// Pinning configures what tool pinning shares across servers.
	Pinning PinningStore `yaml:"pinning"`
	// Audit configures the audit log.
	Audit Audit `yaml:"audit"`
	// Observability configures traces, metrics and the access log.
	Observability Observability `yaml:"observability"`
	// Secrets configures the backends secret references are read from.
	Secrets Secrets `yaml:"secrets"`
	// Servers are the upstream MCP servers mcpfort fronts, one route each.
	Servers []Server `yaml:"servers"`

	// dir is the directory of the configuration file; relative paths in
	// the file are relative to it.
	dir string
}

// Log configures operational logs (never tokens, secrets or audit
// records).
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
	// FlushInterval is how long informational lines (the access log) may
	// wait in memory to be written together; warnings and errors are
	// written at once, with every line before them. Default 100ms; 0 writes
	// every line at once. At most 10s.
	FlushInterval *Duration `yaml:"flush_interval"`
}

// DefaultLogFlushInterval is log.flush_interval's default.
const DefaultLogFlushInterval = 100 * time.Millisecond

// State configures persistence.
type State struct {
	// Dir holds the embedded SQLite database and generated keys. Default:
	// the configuration file's directory.
	Dir string `yaml:"dir"`
	// Database is "sqlite" (the embedded default: the file mcpfort.db in
	// Dir) or a "postgres://" URL for several replicas.
	Database string `yaml:"database"`
	// Redis is a "redis://" URL shared by replicas (rate limits, session
	// denylist, revocations of the embedded authorization server's tokens).
	// Empty: in-memory state, one replica.
	Redis string `yaml:"redis"`
	// DatabasePassword and RedisPassword, when set, are the passwords for
	// state.database and state.redis (instead of one in the URL). They are
	// read for every new connection, so a rotated password is used
	// without a restart.
	DatabasePassword *SecretRef `yaml:"database_password"`
	RedisPassword    *SecretRef `yaml:"redis_password"`
	// RevocationMaxStaleness applies with Redis and the embedded
	// authorization server: each replica follows the revocations of that
	// server's access tokens on a Redis stream (within about 250ms); if it
	// has not been able to read the stream for this long, it refuses the
	// server's tokens with 503 until it can again, rather than accept
	// tokens that may have been revoked meanwhile. Tokens of other issuers
	// are not affected. Default 3s.
	RevocationMaxStaleness Duration `yaml:"revocation_max_staleness"`
	// ReplicaURL is this replica's own base URL as the other replicas
	// reach it (http://10.0.0.7:8080), when several replicas serve the
	// same clients. A legacy session of a local (stdio) server lives in
	// the process of the replica that created it: that replica's URL is
	// sealed into the session id, and any other replica forwards the
	// session's POST, GET and DELETE there, streaming. Empty: one replica
	// (sessions of local servers are served where they land; another
	// replica answers 404).
	ReplicaURL string `yaml:"replica_url"`
}

// HTTP configures the listener and per-request limits.
type HTTP struct {
	// MaxBody bounds a request body. Default 4MiB.
	MaxBody ByteSize `yaml:"max_body"`
	// MaxHeaderBytes bounds request headers. Default 64KiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxJSONDepth bounds JSON nesting in a message. Default 64.
	MaxJSONDepth int `yaml:"max_json_depth"`
	// MaxBatch bounds a 2025-03-26 JSON-RPC batch. Default 100.
	MaxBatch int `yaml:"max_batch"`
	// ReadHeaderTimeout bounds reading request headers. Default 10s.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive connections. Default 120s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConnections caps concurrent client connections; further
	// connections wait in the kernel backlog. Default 0: no cap.
	MaxConnections int `yaml:"max_connections"`
	// AllowedOrigins are browser origins accepted in addition to loopback
	// ones ("https://app.example.com"). Others get 403.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowedHosts are Host header values accepted in addition to loopback
	// names; the host of PublicURL is always accepted. "*" accepts any.
	AllowedHosts []string `yaml:"allowed_hosts"`
	// ShutdownGrace is how long in-flight calls may finish after SIGTERM.
	// Default 30s.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	// ShutdownDelay is how long mcpfort keeps serving, with /readyz
	// answering 503, after SIGTERM and before it stops accepting
	// connections and drains: time for a load balancer that polls /readyz
	// (or Kubernetes' endpoint removal) to stop sending new requests here.
	// Default 0 (drain at once).
	ShutdownDelay Duration `yaml:"shutdown_delay"`
	// TrustedProxies are the load balancers and reverse proxies in front
	// of mcpfort: addresses or CIDR prefixes ("10.0.0.0/8", "fd00::/8").
	// Only when a request's direct peer is one of them is its client taken
	// from ClientIPHeader (the rightmost hop that is not a trusted proxy);
	// anyone else is known by the peer address, whatever headers they
	// send. The client address keys sign-in and registration rate limits.
	// Default: none, every client is its peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// ClientIPHeader is the header the trusted proxies set:
	// x-forwarded-for (default) or forwarded (RFC 7239). The other is
	// ignored, since a proxy passes it through from the client unchanged.
	ClientIPHeader string `yaml:"client_ip_header"`
	// SecurityHeaders are added to every response.
	SecurityHeaders SecurityHeaders `yaml:"security_headers"`
	// TLS serves the listener over TLS (with HTTP/2). Default: plain
	// HTTP, for loopback or behind a proxy that terminates TLS.
	TLS TLS `yaml:"tls"`
}

// TLS configures TLS on the listener: certificate files or ACME, not
// both. With either, public_url must be an https URL.
type TLS struct {
	// CertFile is a PEM certificate chain, leaf first; KeyFile its PEM
	// private key. Both are read again when either file changes (a
	// rotated Kubernetes Secret, a renewal by another tool): a handshake
	// after the change gets the new pair, connections already open keep
	// theirs. A pair that does not load (a half-written file, a key that
	// does not match) is logged and the last good pair stays in use.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ACME obtains and renews certificates from an ACME CA (RFC 8555).
	ACME *ACME `yaml:"acme"`
}

// Enabled reports whether the listener serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" || t.KeyFile != "" || t.ACME != nil }

// ACME configures automatic certificates (RFC 8555). Certificates are
// obtained on the first handshake for a host with the TLS-ALPN-01
// challenge (RFC 8737) on the listener itself, so the CA must reach the
// listener on port 443 of each host; they are renewed before expiry.
// Enabling ACME accepts the CA's terms of service.
type ACME struct {
	// DirectoryURL is the CA's directory. Default Let's Encrypt's
	// production directory, https://acme-v02.api.letsencrypt.org/directory.
	DirectoryURL string `yaml:"directory_url"`
	// Email is the account's contact address, for the CA's expiry
	// notices. Optional.
	Email string `yaml:"email"`
	// Hosts are the only names certificates are requested for; a
	// handshake for any other name fails without asking the CA.
	// Required.
	Hosts []string `yaml:"hosts"`
	// CacheDir keeps the account key and certificates (mode 0700). Replicas
	// that share it share certificates. Default state.dir/acme.
	CacheDir string `yaml:"cache_dir"`
	// CAFile is a PEM bundle of roots to trust for the CA's own HTTPS
	// endpoints instead of the system roots (a private ACME CA). Optional.
	CAFile string `yaml:"ca_file"`
}

// Sessions configures legacy-era sessions.
type Sessions struct {
	// TTL is a session's absolute lifetime. Default 24h.
	TTL Duration `yaml:"ttl"`
	// Secrets seal session ids, newest first; older ones still open
	// sessions sealed before a rotation. Each must hold at least 32 bytes.
	// Replicas sharing sessions must share these. Default: one secret
	// generated on first start and kept in State.Dir/session.key.
	Secrets []SecretRef `yaml:"secrets"`
}

// Auth configures the resource-server side: which authorization servers
// mcpfort trusts for access tokens.
type Auth struct {
	// Issuers are the trusted authorization servers. Access tokens must be
	// RFC 9068 JWTs from one of them (checked against its JWKS) or opaque
	// tokens accepted by an issuer's introspection endpoint, issued for the
	// route's canonical URI (public_url + path) as audience.
	Issuers []Issuer `yaml:"issuers"`
	// CacheMaxAge bounds how long a validated token is reused without
	// checking again; it is also how late a revocation can be noticed.
	// Default 1m.
	CacheMaxAge Duration `yaml:"cache_max_age"`
	// CacheMaxEntries bounds the validated-token cache. Default 100000.
	CacheMaxEntries int `yaml:"cache_max_entries"`
	// InsecureAllowHTTP accepts http:// issuers and metadata (development
	// on loopback only). Logged as a warning at start.
	InsecureAllowHTTP bool `yaml:"insecure_allow_http"`
}

// Issuer is one trusted authorization server.
type Issuer struct {
	// Issuer is the issuer identifier, compared exactly with "iss".
	// Required.
	Issuer string `yaml:"issuer"`
	// JWKSURL overrides the jwks_uri found by metadata discovery.
	JWKSURL string `yaml:"jwks_url"`
	// Algorithms allowed for token signatures. Default ES256, ES384,
	// RS256, PS256, EdDSA (never none or HMAC).
	Algorithms []string `yaml:"algorithms"`
	// TokenTypes are the accepted JWT "typ" values. Default [at+jwt].
	TokenTypes []string `yaml:"token_types"`
	// Introspection validates opaque tokens (RFC 7662).
	Introspection *Introspection `yaml:"introspection"`
	// GroupsClaim is the claim holding the user's groups, in access
	// tokens and introspection responses: a string or an array of
	// strings ("groups", "roles", "cognito:groups"; a dotted name such as
	// "realm_access.roles" reaches into nested objects). Default
	// "groups", which the embedded authorization server uses.
	GroupsClaim string `yaml:"groups_claim"`
}

// Introspection is an RFC 7662 endpoint and the gateway's credentials
// for it.
type Introspection struct {
	// URL of the introspection endpoint. Default: from metadata.
	URL string `yaml:"url"`
	// ClientID and ClientSecret authenticate the gateway.
	ClientID     string    `yaml:"client_id"`
	ClientSecret SecretRef `yaml:"client_secret"`
}

// RouteAuth configures authorization on one route.
type RouteAuth struct {
	// Required demands a valid token on every request. Default: true when
	// auth.issuers is set.
	Required *bool `yaml:"required"`
	// RequireDPoP accepts only DPoP-bound tokens with a proof (RFC 9449
	// section 7): plain Bearer tokens are refused. Needs required.
	// DPoP-bound tokens are accepted (with their proof) on every route.
	RequireDPoP bool `yaml:"require_dpop"`
	// DPoPNonce makes every DPoP proof at this route carry a nonce the
	// gateway issued (RFC 9449 section 9): the first DPoP request is
	// answered 401 use_dpop_nonce with a DPoP-Nonce header, and every
	// accepted one carries the next nonce. Nonces are sealed with the
	// session secrets, so every replica accepts every replica's nonces,
	// and follow their rotation as session ids do.
	DPoPNonce bool `yaml:"dpop_nonce"`
	// Scopes are needed for any request on the route (announced in 401
	// challenges and the protected resource metadata). With the embedded
	// authorization server every signed-in user may hold them. Default,
	// when the embedded authorization server is the route's only issuer
	// and no scope is named anywhere in this section: [mcp], so that
	// clients find a scope to ask for.
	Scopes []string `yaml:"scopes"`
	// Grants give the route's other scopes (those of methods, tools,
	// prompts and resources) to members of groups, when the embedded
	// authorization server issues the tokens. A scope that no grant names
	// is never given to a user; machine clients get only what
	// authserver.clients lists for them.
	Grants []ScopeGrant `yaml:"grants"`
	// ScopesSupported are advertised in the protected resource metadata.
	// Default: every scope named in this section. Never offline_access.
	ScopesSupported []string `yaml:"scopes_supported"`
	// Groups, when set, admit to the route only users in at least one of
	// them (from the token's groups claim, see
	// auth.issuers[].groups_claim); anyone else gets 403.
	Groups []string `yaml:"groups"`
	// Methods maps an MCP method ("tools/list") to what it needs.
	Methods map[string]Requirement `yaml:"methods"`
	// Tools, Prompts and Resources map a name (or a URI for resources),
	// or a glob pattern of them, to what calling it needs. Lists show
	// only what the caller may call. A scope grants the scopes below it:
	// "mcp:tools" satisfies "mcp:tools:read".
	Tools     map[string]Requirement `yaml:"tools"`
	Prompts   map[string]Requirement `yaml:"prompts"`
	Resources map[string]Requirement `yaml:"resources"`
}

// Requirement is what an authorization rule demands of the caller: every
// scope listed, membership in at least one of the groups listed, and for
// each claim listed one of its values. A list is short for scopes only:
//
//	tools:
//	  "delete_*": [mcp:admin]
//	  "deploy": {scopes: [mcp:tools], groups: [ops, admins]}
//	  "payroll_*": {claims: {department: [finance]}}
//
// A missing scope is answered with an insufficient_scope challenge (the
// client can ask for it); a missing group or claim with a plain 403.
type Requirement struct {
	Scopes []string `yaml:"scopes"`
	// Groups are matched against the token's groups claim.
	Groups []string `yaml:"groups"`
	// Claims map a claim name (dotted for a nested claim) to the values
	// accepted; a claim holding an array matches if any element does.
	Claims map[string][]string `yaml:"claims"`
}

// Empty reports whether r demands nothing.
func (r Requirement) Empty() bool {
	return len(r.Scopes) == 0 && len(r.Groups) == 0 && len(r.Claims) == 0
}

// ScopeGrant gives scopes to the members of groups.
type ScopeGrant struct {
	// Scopes granted. Each must be a scope of the route.
	Scopes []string `yaml:"scopes"`
	// Groups whose members get them ("*": every signed-in user).
	Groups []string `yaml:"groups"`
}

// Server is one upstream MCP server and its route.
type Server struct {
	// Name identifies the server in logs, metrics and session ids:
	// letters, digits, '-' and '_'. Required.
	Name string `yaml:"name"`
	// Path is the route's MCP endpoint. Default "/<name>/mcp".
	Path string `yaml:"path"`
	// Era is what the upstream speaks: auto (probe and bridge), legacy,
	// modern or dual. Default auto.
	Era string `yaml:"era"`
	// HTTP reaches a remote server over Streamable HTTP. Exactly one of
	// HTTP, SSE and Stdio is set.
	HTTP *HTTPUpstream `yaml:"http"`
	// SSE reaches a remote server over the 2024-11-05 HTTP+SSE transport.
	SSE *SSEUpstream `yaml:"sse"`
	// Stdio runs a local server as child processes speaking stdio.
	Stdio *StdioUpstream `yaml:"stdio"`
	// Aggregate makes the route a virtual server over several upstreams,
	// their tools, prompts and resources merged under per-upstream
	// prefixes (instead of http, sse or stdio).
	Aggregate *AggregateUpstream `yaml:"aggregate"`
	// LegacySSE also serves the route to clients of the 2024-11-05
	// HTTP+SSE transport: GET <path>/sse opens a session's stream, POST
	// <path>/message?sessionId=... delivers its messages.
	LegacySSE bool `yaml:"legacy_sse"`
	// Auth configures token and scope requirements on this route.
	Auth RouteAuth `yaml:"auth"`
	// Policies override the default policies for this route.
	Policies Policies `yaml:"policies"`
}

// HTTPUpstream is a remote MCP server.
type HTTPUpstream struct {
	// URL is the upstream's MCP endpoint (http or https). Required.
	URL string `yaml:"url"`
	// BearerToken, if set, is the gateway's own credential for the
	// upstream, sent as "Authorization: Bearer". Clients' tokens are never
	// forwarded.
	BearerToken *SecretRef `yaml:"bearer_token"`
	// MaxMessage bounds one upstream reply message. Default 16MiB.
	MaxMessage ByteSize `yaml:"max_message"`
	// TokenExchange obtains the gateway's token for the upstream by
	// exchanging the client's (RFC 8693), per principal, cached until it
	// expires. The route must require authorization.
	TokenExchange *TokenExchange `yaml:"token_exchange"`
	// Assertion sends a short-lived JWT signed by the gateway stating the
	// principal (issuer public_url + "/assertions", JWKS at
	// /assertions/jwks.json). The route must require authorization.
	Assertion *Assertion `yaml:"assertion"`
	// UserOAuth sends each user's own token at the upstream's
	// authorization server, which the user grants once through the
	// gateway (the token vault). The route must require authorization.
	UserOAuth *UserOAuth `yaml:"user_oauth"`
}

// UserOAuth configures per-user upstream authorization: the OAuth 2.1
// client the gateway is at the upstream's authorization server.
type UserOAuth struct {
	// Issuer is the authorization server's issuer (RFC 8414 metadata at
	// its well-known address). Default: discovered from the upstream's
	// protected resource metadata (RFC 9728).
	Issuer string `yaml:"issuer"`
	// ClientID, with ClientSecret for a confidential client, is the
	// gateway's registration there. Without it the gateway registers
	// itself dynamically (RFC 7591) when the server allows it.
	ClientID     string     `yaml:"client_id"`
	ClientSecret *SecretRef `yaml:"client_secret"`
	// ClientMetadataURL, if set, is the gateway's client ID metadata
	// document URL (used as client_id where the server supports it).
	ClientMetadataURL string `yaml:"client_metadata_url"`
	// Scopes asked for. Default: the scopes the protected resource
	// metadata names, else none.
	Scopes []string `yaml:"scopes"`
	// Resource names the upstream (RFC 8707). Default: the upstream URL.
	Resource string `yaml:"resource"`
}

// SSEUpstream is a remote MCP server on the HTTP+SSE transport of
// protocol version 2024-11-05. It takes the keys of an HTTP upstream (url
// is the SSE endpoint) and these bounds.
type SSEUpstream struct {
	HTTPUpstream `yaml:",inline"`
	// MaxConnections bounds the open event streams: one per client session
	// and one per principal for 2026-07-28 clients. Default 1000.
	MaxConnections int `yaml:"max_connections"`
	// IdleTimeout closes a stream without pending requests or listener.
	// Default 10m.
	IdleTimeout Duration `yaml:"idle_timeout"`
}

// AggregateUpstream is a virtual server: several upstreams behind one
// route.
type AggregateUpstream struct {
	// Timeout bounds each upstream's answer to initialize and to a list
	// request; one that does not answer in time is left out of that
	// answer. Default 5s.
	Timeout Duration `yaml:"timeout"`
	// Retry is how often an upstream that is down (it failed initialize,
	// or lost its side of a session) is tried again for a session that
	// needs it. Default 10s.
	Retry Duration `yaml:"retry"`
	// MaxItems bounds the entries taken from one upstream's list page.
	// Default 10000.
	MaxItems int `yaml:"max_items"`
	// Upstreams are the members, at least one. A URI two members list
	// belongs to the first.
	Upstreams []AggregateMember `yaml:"upstreams"`
}

// Local reports whether a member's sessions live in this replica (stdio
// processes, HTTP+SSE streams).
func (ag *AggregateUpstream) Local() bool {
	for _, m := range ag.Upstreams {
		if m.Stdio != nil || m.SSE != nil {
			return true
		}
	}
	return false
}

// AggregateMember is one upstream of a virtual server: exactly one of
// HTTP, SSE and Stdio, as for a route.
type AggregateMember struct {
	// Name identifies the member in logs: letters, digits, '-' and '_'.
	Name string `yaml:"name"`
	// Prefix goes before the member's tool and prompt names. Prefixes are
	// distinct, at most one is empty, and none is a prefix of another.
	Prefix string `yaml:"prefix"`
	// Era is what the upstream speaks: legacy (sent initialize, the
	// default), modern (2026-07-28 only, reached through the era bridge)
	// or auto (probed, bridged when it needs to be).
	Era   string                `yaml:"era"`
	HTTP  *HTTPUpstream         `yaml:"http"`
	SSE   *SSEUpstream          `yaml:"sse"`
	Stdio *StdioUpstream        `yaml:"stdio"`
	Tools AggregateMemberFilter `yaml:"tools"`
}

// AggregateMemberFilter offers only some of a member's tools, named as the
// member names them (globs).
type AggregateMemberFilter struct {
	Allow []string `yaml:"allow"`
	Deny  []string `yaml:"deny"`
}

// MemberServer returns member j of an aggregate server as a server of its
// own (named "<server>.<member>", sharing the member's settings), so that
// what applies to a route's upstream applies to it.
func (s *Server) MemberServer(j int) Server {
	m := s.Aggregate.Upstreams[j]
	return Server{Name: s.Name + "." + m.Name, Path: s.Path, Era: "legacy", HTTP: m.HTTP, SSE: m.SSE, Stdio: m.Stdio, Auth: s.Auth, Policies: s.Policies}
}

// UpstreamServers returns every server that has an upstream of its own:
// the routes, with each virtual server replaced by its members
// (MemberServer).
func (c *Config) UpstreamServers() []Server {
	var out []Server
	for i := range c.Servers {
		s := &c.Servers[i]
		if s.Aggregate == nil {
			out = append(out, *s)
			continue
		}
		for j := range s.Aggregate.Upstreams {
			out = append(out, s.MemberServer(j))
		}
	}
	return out
}

// Remote returns the server's remote upstream settings, whether it speaks
// Streamable HTTP or HTTP+SSE; nil for a local server.
func (s *Server) Remote() *HTTPUpstream {
	switch {
	case s.HTTP != nil:
		return s.HTTP
	case s.SSE != nil:
		return &s.SSE.HTTPUpstream
	}
	return nil
}

// TokenExchange configures RFC 8693 token exchange for an upstream.
type TokenExchange struct {
	// TokenURL is the authorization server's token endpoint. Default:
	// the embedded authorization server's, which then also issues tokens
	// for the upstream's resource.
	TokenURL string `yaml:"token_url"`
	// ClientID and ClientSecret authenticate the gateway there.
	ClientID     string    `yaml:"client_id"`
	ClientSecret SecretRef `yaml:"client_secret"`
	// Resource names the upstream (RFC 8707). Default: the upstream URL.
	Resource string `yaml:"resource"`
	// Audience is sent as "audience" when set.
	Audience string `yaml:"audience"`
	// Scopes requested for the upstream token (only ever fewer).
	Scopes []string `yaml:"scopes"`
}

// Assertion configures gateway-signed principal assertions.
type Assertion struct {
	// Audience is the "aud" of assertions. Default: the upstream URL.
	Audience string `yaml:"audience"`
	// Lifetime of one assertion. Default 60s.
	Lifetime Duration `yaml:"lifetime"`
}

// StdioUpstream is a local MCP server run as child processes.
type StdioUpstream struct {
	// Command is the program and its arguments. Required. A relative
	// program path is relative to the configuration file.
	Command []string `yaml:"command"`
	// Env adds environment variables; the child otherwise inherits only
	// PATH, HOME, LANG and TZ. A value is a literal, or a secret reference
	// ("vault://secret/github#/token"); processes started after a
	// reference's value rotates get the new value.
	Env map[string]EnvValue `yaml:"env"`
	// Dir is the working directory. Default: the configuration file's
	// directory.
	Dir string `yaml:"dir"`
	// Isolation is per_session (one process per client session, the
	// default), per_user (one per authenticated principal) or shared
	// (processes shared by all, with request id rewriting).
	Isolation string `yaml:"isolation"`
	// MaxProcesses caps live processes. Default 64 (4 when shared).
	MaxProcesses int `yaml:"max_processes"`
	// MaxInFlight caps concurrent requests per process. Default 64.
	MaxInFlight int `yaml:"max_in_flight"`
	// QueueTimeout is how long a request waits for a process or a slot
	// before it fails with an overload error. Default 10s.
	QueueTimeout Duration `yaml:"queue_timeout"`
	// MaxQueue caps requests waiting. Default 1024.
	MaxQueue int `yaml:"max_queue"`
	// IdleTimeout reaps processes idle this long. Default 10m.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// Warm keeps this many per_session processes started and waiting for
	// a session, counted in MaxProcesses. Default 0 (start on demand).
	Warm int `yaml:"warm"`
}

// Defaults used when a field is zero.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultMaxBody           = 4 << 20
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxJSONDepth      = 64
	DefaultMaxBatch          = 100
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownGrace     = 30 * time.Second
	DefaultSessionTTL        = 24 * time.Hour
)

// Load reads, decodes and validates the file at path.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(b, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse decodes YAML strictly (unknown keys, duplicate keys and trailing
// documents are errors), applies defaults and validates. dir is the
// directory relative paths are resolved against.
func Parse(b []byte, dir string) (*Config, error) {
	c := &Config{dir: dir}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("configuration must be a single YAML document")
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir returns the directory relative paths are resolved against.
func (c *Config) Dir() string { return c.dir }

// Resolve makes a path from the file relative to the file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

func (c *Config) applyDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.PublicURL == "" {
		c.PublicURL = c.defaultPublicURL()
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.Log.FlushInterval == nil {
		d := Duration(DefaultLogFlushInterval)
		c.Log.FlushInterval = &d
	}
	if c.State.Dir == "" {
		c.State.Dir = c.dir
	} else {
		c.State.Dir = c.Resolve(c.State.Dir)
	}
	if c.State.Database == "" {
		c.State.Database = "sqlite"
	}
	if c.State.RevocationMaxStaleness == 0 {
		c.State.RevocationMaxStaleness = Duration(3 * time.Second)
	}
	c.HTTP.defaults()
	c.HTTP.TLS.defaults(c)
	if c.Auth.CacheMaxAge == 0 {
		c.Auth.CacheMaxAge = Duration(time.Minute)
	}
	if c.Auth.CacheMaxEntries == 0 {
		c.Auth.CacheMaxEntries = 100000
	}
	if c.Sessions.TTL == 0 {
		c.Sessions.TTL = Duration(DefaultSessionTTL)
	}
	if c.Audit.Enabled == nil {
		on := true
		c.Audit.Enabled = &on
	}
	if c.Secrets.RefreshInterval == 0 {
		c.Secrets.RefreshInterval = Duration(5 * time.Minute)
	}
	if c.Secrets.FileCheckInterval == 0 {
		c.Secrets.FileCheckInterval = Duration(10 * time.Second)
	}
	if c.RateLimit.Timeout == 0 {
		c.RateLimit.Timeout = Duration(250 * time.Millisecond)
	}
	if c.Observability.AccessLog == nil {
		on := true
		c.Observability.AccessLog = &on
	}
	for i := range c.Servers {
		c.serverDefaults(&c.Servers[i])
	}
}

// defaultPublicURL is http:// + Listen, or with TLS https:// + the first
// ACME host or Listen (the port left out when it is 443).
func (c *Config) defaultPublicURL() string {
	t := c.HTTP.TLS
	if !t.Enabled() {
		return "http://" + c.Listen
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "https://" + c.Listen
	}
	if t.ACME != nil && len(t.ACME.Hosts) > 0 {
		host = t.ACME.Hosts[0]
	}
	if port == "443" {
		return "https://" + host
	}
	return "https://" + net.JoinHostPort(host, port)
}

func (h *HTTP) defaults() {
	if h.MaxBody == 0 {
		h.MaxBody = DefaultMaxBody
	}
	if h.MaxHeaderBytes == 0 {
		h.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if h.MaxJSONDepth == 0 {
		h.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if h.MaxBatch == 0 {
		h.MaxBatch = DefaultMaxBatch
	}
	if h.ReadHeaderTimeout == 0 {
		h.ReadHeaderTimeout = Duration(DefaultReadHeaderTimeout)
	}
	if h.IdleTimeout == 0 {
		h.IdleTimeout = Duration(DefaultIdleTimeout)
	}
	if h.ShutdownGrace == 0 {
		h.ShutdownGrace = Duration(DefaultShutdownGrace)
	}
	if h.ClientIPHeader == "" {
		h.ClientIPHeader = "x-forwarded-for"
	}
	if h.SecurityHeaders.HSTSMaxAge == 0 {
		h.SecurityHeaders.HSTSMaxAge = Duration(365 * 24 * time.Hour)
	}
}

// DefaultACMEDirectory is Let's Encrypt's production directory.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

func (t *TLS) defaults(c *Config) {
	t.CertFile, t.KeyFile = c.Resolve(t.CertFile), c.Resolve(t.KeyFile)
	if a := t.ACME; a != nil {
		if a.DirectoryURL == "" {
			a.DirectoryURL = DefaultACMEDirectory
		}
		if a.CacheDir == "" {
			a.CacheDir = filepath.Join(c.State.Dir, "acme")
		} else {
			a.CacheDir = c.Resolve(a.CacheDir)
		}
		a.CAFile = c.Resolve(a.CAFile)
	}
}

// serverDefaults fills in a server from the file's defaults (policies,
// authorization) and its own.
func (c *Config) serverDefaults(s *Server) {
	s.Policies = s.Policies.merge(c.Policies)
	s.Policies.defaults(c.Pinning.RefreshInterval)
	if s.Path == "" && s.Name != "" {
		s.Path = "/" + s.Name + "/mcp"
	}
	if s.Era == "" {
		s.Era = "auto"
		if s.SSE != nil || s.Aggregate != nil {
			s.Era = "legacy"
		}
	}
	if ag := s.Aggregate; ag != nil {
		if ag.Timeout == 0 {
			ag.Timeout = Duration(5 * time.Second)
		}
		if ag.MaxItems == 0 {
			ag.MaxItems = 10000
		}
		if ag.Retry == 0 {
			ag.Retry = Duration(10 * time.Second)
		}
		for j := range ag.Upstreams {
			ms := s.MemberServer(j)
			ms.Auth.Required = s.Auth.Required
			c.upstreamDefaults(&ms)
		}
	}
	if s.Auth.Required == nil {
		req := len(c.Auth.Issuers) > 0 || c.AuthServer.Enabled
		s.Auth.Required = &req
	}
	if *s.Auth.Required && c.AuthServer.Enabled && len(c.Auth.Issuers) == 0 && len(s.Auth.Scopes) == 0 {
		s.Auth.Scopes = []string{DefaultScope}
	}
	c.upstreamDefaults(s)
}

// upstreamDefaults fills in the settings of a server's upstream.
func (c *Config) upstreamDefaults(s *Server) {
	if u := s.Remote(); u != nil {
		if u.MaxMessage == 0 {
			u.MaxMessage = 16 << 20
		}
		if u.TokenExchange != nil && u.TokenExchange.TokenURL == "" && c.AuthServer.Enabled {
			u.TokenExchange.TokenURL = c.EmbeddedIssuer() + "/token"
		}
	}
	if u := s.SSE; u != nil {
		if u.MaxConnections == 0 {
			u.MaxConnections = 1000
		}
		if u.IdleTimeout == 0 {
			u.IdleTimeout = Duration(10 * time.Minute)
		}
	}
	if st := s.Stdio; st != nil {
		st.defaults(c)
	}
}

func (st *StdioUpstream) defaults(c *Config) {
	if st.Isolation == "" {
		st.Isolation = "per_session"
	}
	if st.MaxProcesses == 0 {
		st.MaxProcesses = 64
		if st.Isolation == "shared" {
			st.MaxProcesses = 4
		}
	}
	if st.MaxInFlight == 0 {
		st.MaxInFlight = 64
	}
	if st.QueueTimeout == 0 {
		st.QueueTimeout = Duration(10 * time.Second)
	}
	if st.MaxQueue == 0 {
		st.MaxQueue = 1024
	}
	if st.IdleTimeout == 0 {
		st.IdleTimeout = Duration(10 * time.Minute)
	}
	if st.Dir == "" {
		st.Dir = c.dir
	} else {
		st.Dir = c.Resolve(st.Dir)
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// Problems lists every validation failure, each with its path.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// addFunc records a problem at a path ("servers[0].http.url").
type addFunc func(path, format string, args ...any)

// Validate reports every problem in the configuration at once: each
// section has its validator, which reports every problem it finds with
// its path.
func (c *Config) Validate() error {
	var p Problems
	add := func(path, format string, args ...any) { p = append(p, path+": "+fmt.Sprintf(format, args...)) }
	c.validateAddresses(add)
	c.Log.validate(add)
	c.State.validate(add)
	c.HTTP.validate(add)
	c.Sessions.validate(add)
	c.Auth.validate(add)
	c.validateObservability(add)
	if len(c.Servers) == 0 {
		add("servers", "at least one server is required")
	}
	c.validateAuthServer(add)
	c.validateServers(add)
	c.validateUserOAuth(add)
	c.validateSecrets(add)
	if len(p) > 0 {
		return p
	}
	return nil
}

// required reports a required reference that is absent; the reference
// itself is checked with the others (validateSecrets).
func (r SecretRef) required(path string, add addFunc) {
	if !r.Set() {
		add(path, "required: a secret reference such as env:NAME")
	}
}

func (c *Config) validateAddresses(add addFunc) {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		add("listen", "must be host:port, got %q", c.Listen)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		add("public_url", "must be an http or https base URL without path, got %q", c.PublicURL)
	} else if u.Scheme != "https" && c.HTTP.TLS.Enabled() {
		// Clients reach a TLS listener over https, and the resource and
		// issuer identifiers derived from public_url must say so.
		add("public_url", "must be https when http.tls is set, got %q", c.PublicURL)
	}
}

func (l Log) validate(add addFunc) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "must be debug, info, warn or error, got %q", l.Level)
	}
	switch l.Format {
	case "text", "json":
	default:
		add("log.format", "must be text or json, got %q", l.Format)
	}
	if d := l.FlushInterval; d != nil && (*d < 0 || d.D() > 10*time.Second) {
		add("log.flush_interval", "must be between 0 and 10s, got %s", d.D())
	}
}

func (s State) validate(add addFunc) {
	if s.Database != "sqlite" && !strings.HasPrefix(s.Database, "postgres://") && !strings.HasPrefix(s.Database, "postgresql://") {
		add("state.database", `must be "sqlite" or a postgres:// URL`)
	}
	if s.Redis != "" && !strings.HasPrefix(s.Redis, "redis://") && !strings.HasPrefix(s.Redis, "rediss://") {
		add("state.redis", "must be a redis:// or rediss:// URL")
	}
	if s.ReplicaURL != "" {
		if u, err := url.Parse(s.ReplicaURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			add("state.replica_url", "must be an http or https base URL without path, got %q", s.ReplicaURL)
		}
	}
}

func (h HTTP) validate(add addFunc) {
	if h.MaxBody < 1024 {
		add("http.max_body", "must be at least 1KiB")
	}
	if h.MaxHeaderBytes < 4096 {
		add("http.max_header_bytes", "must be at least 4KiB")
	}
	if h.MaxJSONDepth < 8 || h.MaxJSONDepth > 10000 {
		add("http.max_json_depth", "must be between 8 and 10000")
	}
	if h.MaxBatch < 1 {
		add("http.max_batch", "must be at least 1")
	}
	if h.MaxConnections < 0 {
		add("http.max_connections", "must not be negative")
	}
	if h.ShutdownDelay < 0 {
		add("http.shutdown_delay", "must not be negative")
	}
	for i, tp := range h.TrustedProxies {
		if !validProxy(tp) {
			add(fmt.Sprintf("http.trusted_proxies[%d]", i), "must be an IP address or a CIDR prefix without host bits, got %q", tp)
		}
	}
	h.TLS.validate(add)
	if h.ClientIPHeader != "x-forwarded-for" && h.ClientIPHeader != "forwarded" {
		add("http.client_ip_header", "must be x-forwarded-for or forwarded, got %q", h.ClientIPHeader)
	}
	for i, o := range h.AllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" {
			add(fmt.Sprintf("http.allowed_origins[%d]", i), "must be an origin such as https://app.example.com, got %q", o)
		}
	}
}

func (t TLS) validate(add addFunc) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		add("http.tls", "set both cert_file and key_file, or neither")
	}
	a := t.ACME
	if a == nil {
		return
	}
	if t.CertFile != "" || t.KeyFile != "" {
		add("http.tls", "set cert_file and key_file, or acme, not both")
	}
	if u, err := url.Parse(a.DirectoryURL); err != nil || u.Scheme != "https" || u.Host == "" {
		add("http.tls.acme.directory_url", "must be an https URL, got %q", a.DirectoryURL)
	}
	if len(a.Hosts) == 0 {
		add("http.tls.acme.hosts", "at least one host is required")
	}
	for i, h := range a.Hosts {
		// RFC 8555 section 7.1.4: identifiers are DNS names; no ports,
		// wildcards need DNS-01, which TLS-ALPN-01 cannot prove.
		if !strings.Contains(h, ".") || strings.ContainsAny(h, ":/*@ ") || net.ParseIP(h) != nil || strings.HasPrefix(h, ".") || strings.HasSuffix(h, ".") {
			add(fmt.Sprintf("http.tls.acme.hosts[%d]", i), "must be a DNS name with a dot, without port or wildcard, got %q", h)
		}
	}
	if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t\r\n")) {
		add("http.tls.acme.email", "must be an email address, got %q", a.Email)
	}
}

func (s Sessions) validate(add addFunc) {
	if s.TTL.D() < time.Minute {
		add("sessions.ttl", "must be at least 1m")
	}
}

func (a Auth) validate(add addFunc) {
	issuers := map[string]bool{}
	for i, is := range a.Issuers {
		at := fmt.Sprintf("auth.issuers[%d]", i)
		u, err := url.Parse(is.Issuer)
		switch {
		case err != nil || u.Host == "" || u.Fragment != "" || u.RawQuery != "":
			add(at+".issuer", "must be an absolute URL without query or fragment, got %q", is.Issuer)
		case u.Scheme != "https" && !(u.Scheme == "http" && a.InsecureAllowHTTP):
			add(at+".issuer", "must be https (set auth.insecure_allow_http for local development), got %q", is.Issuer)
		case issuers[is.Issuer]:
			add(at+".issuer", "duplicate issuer %q", is.Issuer)
		}
		issuers[is.Issuer] = true
		if in := is.Introspection; in != nil {
			if in.ClientID == "" {
				add(at+".introspection.client_id", "required")
			}
			in.ClientSecret.required(at+".introspection.client_secret", add)
		}
	}
	if a.CacheMaxAge.D() < 0 || a.CacheMaxEntries < 0 {
		add("auth", "cache_max_age and cache_max_entries must not be negative")
	}
}

// validateServers checks each server: its name and path (unique), its
// authorization, policies and upstream.
func (c *Config) validateServers(add addFunc) {
	names, paths := map[string]bool{}, map[string]bool{}
	canAuthorize := len(c.Auth.Issuers) > 0 || c.AuthServer.Enabled
	for i, s := range c.Servers {
		at := fmt.Sprintf("servers[%d]", i)
		if !nameRE.MatchString(s.Name) {
			add(at+".name", "must be 1-64 letters, digits, '-' or '_', got %q", s.Name)
		} else if names[s.Name] {
			add(at+".name", "duplicate server name %q", s.Name)
		}
		names[s.Name] = true
		if !strings.HasPrefix(s.Path, "/") || strings.ContainsAny(s.Path, "?#{} ") || strings.HasPrefix(s.Path, "/.well-known/") || s.Path == "/healthz" || s.Path == "/readyz" {
			add(at+".path", "must be an absolute path outside /.well-known/, got %q", s.Path)
		} else if paths[s.Path] {
			add(at+".path", "duplicate path %q", s.Path)
		}
		paths[s.Path] = true
		if s.LegacySSE {
			for _, p := range []string{s.Path + "/sse", s.Path + "/message"} {
				if paths[p] {
					add(at+".legacy_sse", "its path %q collides with another route's", p)
				}
				paths[p] = true
			}
		}
		switch s.Era {
		case "auto", "legacy", "modern", "dual":
		default:
			add(at+".era", "must be auto, legacy, modern or dual, got %q", s.Era)
		}
		if *s.Auth.Required && !canAuthorize {
			add(at+".auth.required", "needs at least one auth.issuers entry or the embedded authserver")
		}
		if s.Auth.RequireDPoP && !*s.Auth.Required {
			add(at+".auth.require_dpop", "needs auth.required")
		}
		s.Auth.validate(at+".auth", add)
		s.Policies.validate(at+".policies", add)
		if n := count(s.HTTP != nil, s.SSE != nil, s.Stdio != nil, s.Aggregate != nil); n != 1 {
			add(at, "set exactly one of http, sse, stdio and aggregate")
			continue
		}
		if ag := s.Aggregate; ag != nil {
			s.validateAggregate(at+".aggregate", add)
			continue
		}
		s.validateUpstream(at, add)
	}
}

// validateAggregate checks a virtual server's members.
func (s *Server) validateAggregate(at string, add addFunc) {
	ag := s.Aggregate
	if s.Era != "legacy" {
		add(strings.TrimSuffix(at, ".aggregate")+".era", "a virtual server speaks the session era to the gateway: era must be legacy, got %q", s.Era)
	}
	if ag.Timeout < 0 {
		add(at+".timeout", "must not be negative")
	}
	if ag.Retry < 0 {
		add(at+".retry", "must not be negative")
	}
	if ag.MaxItems < 0 {
		add(at+".max_items", "must not be negative")
	}
	if len(ag.Upstreams) == 0 {
		add(at+".upstreams", "at least one upstream is required")
	}
	if len(ag.Upstreams) > 64 {
		add(at+".upstreams", "at most 64 upstreams")
	}
	names, prefixes := map[string]bool{}, map[string]string{}
	for j, m := range ag.Upstreams {
		mat := fmt.Sprintf("%s.upstreams[%d]", at, j)
		if !nameRE.MatchString(m.Name) {
			add(mat+".name", "must be letters, digits, '-' and '_', got %q", m.Name)
		}
		if names[m.Name] {
			add(mat+".name", "%q is used by another upstream of this server", m.Name)
		}
		names[m.Name] = true
		for p, other := range prefixes {
			switch {
			case p == m.Prefix:
				add(mat+".prefix", "%q is the prefix of upstream %q too: names would collide", m.Prefix, other)
			case p != "" && m.Prefix != "" && (strings.HasPrefix(p, m.Prefix) || strings.HasPrefix(m.Prefix, p)):
				add(mat+".prefix", "%q and the prefix %q of upstream %q overlap: a name could belong to either", m.Prefix, p, other)
			}
		}
		prefixes[m.Prefix] = m.Name
		for _, g := range append(append([]string(nil), m.Tools.Allow...), m.Tools.Deny...) {
			if _, err := path.Match(g, ""); err != nil || g == "" {
				add(mat+".tools", "bad pattern %q", g)
			}
		}
		switch m.Era {
		case "", "legacy", "modern", "auto":
		default:
			add(mat+".era", "must be legacy, modern or auto, got %q", m.Era)
		}
		if m.SSE != nil && m.Era != "" && m.Era != "legacy" {
			add(mat+".era", "an sse upstream speaks protocol version 2024-11-05 only: era must be legacy, got %q", m.Era)
		}
		ms := s.MemberServer(j)
		if n := count(m.HTTP != nil, m.SSE != nil, m.Stdio != nil); n != 1 {
			add(mat, "set exactly one of http, sse and stdio")
			continue
		}
		ms.validateUpstream(mat, add)
	}
}

// validateUserOAuth refuses user_oauth unless the gateway can tell who
// opens a connect link: the MCP server "MUST verify the identity of the
// user who opens the URL", by the browser's session at the authorization
// server that identifies the MCP client's user (MCP 2025-11-25
// client/elicitation, Security Considerations, Phishing). The gateway
// reads only the embedded server's session, on its own origin; a token
// from an auth.issuers server names a user whose browser session it
// cannot see, so with such issuers trusted a forwarded link could not be
// told from the user's own.
func (c *Config) validateUserOAuth(add addFunc) {
	for i, s := range c.Servers {
		if s.HTTP == nil || s.HTTP.UserOAuth == nil {
			continue
		}
		at := fmt.Sprintf("servers[%d].http.user_oauth", i)
		switch {
		case !c.AuthServer.Enabled:
			add(at, "needs the embedded authorization server (authserver.enabled): a connect link must be opened by a browser signed in there as the link's user")
		case len(c.Auth.Issuers) > 0:
			add(at, "not available with auth.issuers: the gateway cannot see a browser's session at another authorization server, so it could not check that a connect link is opened by its own user")
		default:
			iu, err1 := url.Parse(c.EmbeddedIssuer())
			pu, err2 := url.Parse(c.PublicURL)
			if err1 != nil || err2 != nil || iu.Scheme != pu.Scheme || iu.Host != pu.Host {
				add(at, "needs authserver.issuer on the origin of public_url: the connect links read the browser's sign-in session there")
			}
		}
	}
}

// validateUpstream checks the http, sse or stdio settings of a server (at
// names the server).
func (s *Server) validateUpstream(at string, add addFunc) {
	{
		if u := s.HTTP; u != nil {
			u.validate(at+".http", *s.Auth.Required, add)
			if u.UserOAuth != nil && strings.Contains(s.Name, ".") {
				add(at+".http.user_oauth", "not available for a member of a virtual server")
			}
		}
		if u := s.SSE; u != nil {
			u.validate(at+".sse", *s.Auth.Required, add)
			if u.UserOAuth != nil {
				add(at+".sse.user_oauth", "available for http upstreams only")
			}
			if u.MaxConnections < 0 {
				add(at+".sse.max_connections", "must not be negative")
			}
			if u.IdleTimeout < 0 {
				add(at+".sse.idle_timeout", "must not be negative")
			}
			if s.Era != "legacy" {
				add(at+".era", "an sse upstream speaks protocol version 2024-11-05 only: era must be legacy, got %q", s.Era)
			}
		}
		if st := s.Stdio; st != nil {
			st.validate(at+".stdio", add)
		}
	}
}

func (a RouteAuth) validate(at string, add addFunc) {
	for _, sc := range a.ScopesSupported {
		if sc == "offline_access" {
			add(at+".scopes_supported", "must not list offline_access (it is the authorization server's business)")
		}
	}
	for _, g := range a.Groups {
		if g == "" {
			add(at+".groups", "empty group name")
		}
	}
	rules := map[string]map[string]Requirement{"methods": a.Methods, "tools": a.Tools, "prompts": a.Prompts, "resources": a.Resources}
	for kind, m := range rules {
		for k, r := range m {
			if k == "" || r.Empty() {
				add(at+"."+kind, "entry %q needs a name and at least one scope, group or claim", k)
			}
			if slices.Contains(r.Scopes, "") || slices.Contains(r.Groups, "") {
				add(at+"."+kind, "entry %q: empty scope or group name", k)
			}
			for c, vs := range r.Claims {
				if c == "" || len(vs) == 0 {
					add(at+"."+kind, "entry %q: claim %q needs a name and at least one value", k, c)
				}
			}
		}
	}
	for kind, m := range rules {
		for k, r := range m {
			for _, need := range r.Scopes {
				for _, base := range a.Scopes {
					if need != base && grantsScope(base, need) {
						add(at+"."+kind, "entry %q needs %q, which the route scope %q grants (scopes are hierarchical on ':'): every user holds it, so it protects nothing", k, need, base)
					}
				}
			}
		}
	}
	for j, g := range a.Grants {
		gat := fmt.Sprintf("%s.grants[%d]", at, j)
		if len(g.Scopes) == 0 || len(g.Groups) == 0 {
			add(gat, "needs scopes and groups")
		}
		for _, sc := range g.Scopes {
			if !a.names(sc) {
				add(gat+".scopes", "%q is not a scope of this route (name it in scopes, methods, tools, prompts or resources)", sc)
			}
		}
	}
}

// validate checks a remote upstream; required says whether its route
// requires authorization.
func (u HTTPUpstream) validate(at string, required bool, add addFunc) {
	if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		add(at+".url", "must be an absolute http or https URL, got %q", u.URL)
	}
	n := 0
	for _, set := range []bool{u.BearerToken != nil, u.TokenExchange != nil, u.Assertion != nil, u.UserOAuth != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		add(at, "set at most one of bearer_token, token_exchange, assertion and user_oauth")
	}
	if (u.TokenExchange != nil || u.Assertion != nil || u.UserOAuth != nil) && !required {
		add(at, "token_exchange, assertion and user_oauth act for the caller: the route must require authorization")
	}
	if uo := u.UserOAuth; uo != nil {
		for _, f := range []struct{ name, v string }{{"issuer", uo.Issuer}, {"client_metadata_url", uo.ClientMetadataURL}, {"resource", uo.Resource}} {
			if f.v == "" {
				continue
			}
			if pu, err := url.Parse(f.v); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" || pu.Fragment != "" {
				add(at+".user_oauth."+f.name, "must be an absolute http(s) URL without a fragment, got %q", f.v)
			}
		}
		if uo.ClientSecret != nil && uo.ClientID == "" {
			add(at+".user_oauth.client_secret", "needs client_id")
		}
		if uo.ClientID != "" && uo.ClientMetadataURL != "" {
			add(at+".user_oauth", "set at most one of client_id and client_metadata_url")
		}
	}
	if te := u.TokenExchange; te != nil {
		if pu, err := url.Parse(te.TokenURL); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			add(at+".token_exchange.token_url", "must be an absolute http(s) URL, got %q", te.TokenURL)
		}
		if te.ClientID == "" {
			add(at+".token_exchange.client_id", "required")
		}
		te.ClientSecret.required(at+".token_exchange.client_secret", add)
	}
}

func count(set ...bool) int {
	n := 0
	for _, b := range set {
		if b {
			n++
		}
	}
	return n
}

func (st StdioUpstream) validate(at string, add addFunc) {
	if len(st.Command) == 0 || st.Command[0] == "" {
		add(at+".command", "required")
	}
	switch st.Isolation {
	case "per_session", "per_user", "shared":
	default:
		add(at+".isolation", "must be per_session, per_user or shared, got %q", st.Isolation)
	}
	if st.MaxProcesses < 1 {
		add(at+".max_processes", "must be at least 1")
	}
	if st.MaxInFlight < 1 {
		add(at+".max_in_flight", "must be at least 1")
	}
	if st.MaxQueue < 0 {
		add(at+".max_queue", "must not be negative")
	}
	switch {
	case st.Warm < 0:
		add(at+".warm", "must not be negative")
	case st.Warm > 0 && st.Isolation != "per_session":
		add(at+".warm", "needs isolation per_session")
	case st.Warm > st.MaxProcesses && st.MaxProcesses >= 1:
		add(at+".warm", "must not exceed max_processes (%d)", st.MaxProcesses)
	}
}

// DefaultScope is the route scope used with the embedded authorization
// server when the configuration names none.
const DefaultScope = "mcp:access"

// names reports whether the section names scope sc anywhere.
func (a RouteAuth) names(sc string) bool {
	found := false
	a.eachScope(func(s string) { found = found || s == sc })
	return found
}

// eachScope calls f for every scope the section names (with repeats).
func (a RouteAuth) eachScope(f func(string)) {
	for _, s := range a.Scopes {
		f(s)
	}
	for _, s := range a.ScopesSupported {
		f(s)
	}
	for _, m := range []map[string]Requirement{a.Methods, a.Tools, a.Prompts, a.Resources} {
		for _, r := range m {
			for _, s := range r.Scopes {
				f(s)
			}
		}
	}
}

// grantsScope reports whether the granted scope satisfies required under
// the gateway's hierarchy rule: equal, or a parent ending at a ':'
// boundary ("mcp" grants "mcp:tools", not "mcpx").
func grantsScope(granted, required string) bool {
	return granted == required || (len(required) > len(granted) && required[len(granted)] == ':' && strings.HasPrefix(required, granted))
}

// validProxy reports whether s is an address or a prefix without host bits.
func validProxy(s string) bool {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p == p.Masked()
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Zone() == ""
}
