package config

import (
	"fmt"
	"net/url"
	"strings"
)

// AuthServer configures the embedded OAuth 2.1 authorization server (MCP
// profile: PKCE, RFC 8707 resources, CIMD, DCR, RFC 9207, RFC 8693). When
// enabled it is a trusted issuer of every route without further
// configuration, and every route requires its tokens.
type AuthServer struct {
	// Enabled turns the embedded authorization server on. Default false.
	Enabled bool `yaml:"enabled"`
	// Issuer is its issuer identifier. Default public_url. Plain http
	// only on loopback hosts.
	Issuer string `yaml:"issuer"`
	// KeyEncryptionKey seals signing keys and browser cookies at rest (32
	// bytes, or 64 hex digits). Replicas must share it. Default: generated
	// once into state.dir/authserver.kek (keep that file private).
	KeyEncryptionKey *SecretRef `yaml:"key_encryption_key"`
	// PreviousKeyEncryptionKeys still open what older keys sealed, after
	// a rotation.
	PreviousKeyEncryptionKeys []SecretRef `yaml:"previous_key_encryption_keys"`
	// SigningAlgorithm of access tokens: ES256 (default), RS256, EdDSA.
	SigningAlgorithm string `yaml:"signing_algorithm"`
	// KeyRotationPeriod is how long one signing key signs. Default 720h.
	KeyRotationPeriod Duration `yaml:"key_rotation_period"`
	// Lifetimes. Defaults: access 10m, refresh family 720h, code 60s,
	// browser session 12h.
	AccessTokenLifetime  Duration `yaml:"access_token_lifetime"`
	RefreshTokenLifetime Duration `yaml:"refresh_token_lifetime"`
	CodeLifetime         Duration `yaml:"code_lifetime"`
	SessionLifetime      Duration `yaml:"session_lifetime"`
	// DefaultServer names the server whose resource a request without
	// RFC 8707 "resource" gets a token for. Default: the first protected
	// server.
	DefaultServer string `yaml:"default_server"`
	// Clients are pre-registered clients (machine clients, the gateway's
	// own client for token exchange).
	Clients []ASClient `yaml:"clients"`
	// DisableLocalLogin hides the username and password form (sign-in
	// only through Upstream).
	DisableLocalLogin bool `yaml:"disable_local_login"`
	// Upstream federates sign-in to an OpenID Connect provider.
	Upstream *ASUpstream `yaml:"upstream"`
	// CIMD configures Client ID Metadata Documents (URL client ids).
	CIMD ASCIMD `yaml:"cimd"`
	// Registration configures RFC 7591 dynamic client registration.
	Registration ASRegistration `yaml:"registration"`
	// TrustedIssuers are other issuers whose tokens may be exchanged here
	// (RFC 8693).
	TrustedIssuers []ASTrustedIssuer `yaml:"trusted_issuers"`
	// IdentityProviders are enterprise identity providers whose identity
	// assertion JWT authorization grants (ID-JAG) clients may redeem with
	// the JWT bearer grant (MCP enterprise-managed authorization). A
	// client needs urn:ietf:params:oauth:grant-type:jwt-bearer in its
	// grant_types and a secret or keys.
	IdentityProviders []ASIdentityProvider `yaml:"identity_providers"`
	// ServiceName is shown on the sign-in and consent pages. Default
	// "mcpfort".
	ServiceName string `yaml:"service_name"`
	// Login throttles password sign-in.
	Login ASLogin `yaml:"login"`
	// DPoP configures sender-constrained tokens (RFC 9449) at the token
	// endpoint.
	DPoP ASDPoP `yaml:"dpop"`
}

// ASDPoP configures DPoP (RFC 9449) at the token endpoint. Proofs are
// always accepted; with state.redis set their identifiers are remembered
// in Redis, so a proof used at one replica is refused at every other.
type ASDPoP struct {
	// RequireNonce makes every proof carry a nonce this server issued
	// (RFC 9449 section 8): the first token request with a proof is
	// answered use_dpop_nonce with a DPoP-Nonce header, and every token
	// response carries a fresh one. Nonces are sealed with the key
	// encryption key, so every replica accepts every replica's nonces.
	RequireNonce bool `yaml:"require_nonce"`
	// NonceLifetime is how long a nonce is accepted. Default 5m.
	NonceLifetime Duration `yaml:"nonce_lifetime"`
}

// ASLogin throttles password sign-in. Attempts are counted before the
// password is checked; with state.redis set the counts are shared by the
// replicas, and sign-in is refused (503) while Redis cannot be reached.
type ASLogin struct {
	// RateLimit is sign-in attempts per client network (IPv4 address,
	// IPv6 /64) per minute. Default 10.
	RateLimit int `yaml:"rate_limit"`
	// AccountRateLimit is sign-in attempts per username per 5 minutes,
	// from any address, whether or not the account exists. Default 10.
	AccountRateLimit int `yaml:"account_rate_limit"`
	// MaxConcurrentHashes caps the password checks running at once
	// (argon2id, 19 MiB each); beyond it sign-in answers 503 at once.
	// Default twice the CPUs, at least 4.
	MaxConcurrentHashes int `yaml:"max_concurrent_hashes"`
}

// ASClient is a pre-registered client.
type ASClient struct {
	ID           string     `yaml:"id"`
	Name         string     `yaml:"name"`
	Secret       *SecretRef `yaml:"secret"`
	RedirectURIs []string   `yaml:"redirect_uris"`
	// GrantTypes: authorization_code (default), refresh_token,
	// client_credentials, urn:ietf:params:oauth:grant-type:token-exchange,
	// urn:ietf:params:oauth:grant-type:jwt-bearer (ID-JAG, with
	// identity_providers).
	GrantTypes []string `yaml:"grant_types"`
	// TokenEndpointAuthMethod: none, client_secret_basic,
	// client_secret_post, private_key_jwt.
	TokenEndpointAuthMethod string `yaml:"token_endpoint_auth_method"`
	JWKSURI                 string `yaml:"jwks_uri"`
	SkipConsent             bool   `yaml:"skip_consent"`
	// DPoPBoundAccessTokens refuses the client's token requests that
	// carry no DPoP proof (RFC 9449 section 5.2).
	DPoPBoundAccessTokens bool `yaml:"dpop_bound_access_tokens"`
	// Resources the client may obtain tokens for with client_credentials
	// (on its own behalf) or as token-exchange targets: server names, or
	// resource URIs. Required for those grants. The gateway's own
	// token-exchange client gets the upstreams it exchanges for without
	// listing them.
	Resources []string `yaml:"resources"`
	// Scopes the client may obtain with those grants.
	Scopes []string `yaml:"scopes"`
	// ResourceServer lets the client call the introspection endpoint
	// (RFC 7662) for tokens of its Resources (all, if none listed).
	ResourceServer bool `yaml:"resource_server"`
}

// ASUpstream is an OpenID Connect provider users sign in at.
type ASUpstream struct {
	Issuer            string    `yaml:"issuer"`
	ClientID          string    `yaml:"client_id"`
	ClientSecret      SecretRef `yaml:"client_secret"`
	Name              string    `yaml:"name"`
	Scopes            []string  `yaml:"scopes"`
	DisableAutoCreate bool      `yaml:"disable_auto_create"`
	// GroupsClaim names the ID token claim with the user's groups
	// ("groups", "roles", or a dotted path such as "realm_access.roles").
	// Users' groups are replaced by it at each sign-in. Default: groups
	// of federated users are managed with "mcpfort users groups".
	GroupsClaim string `yaml:"groups_claim"`
}

// ASCIMD configures Client ID Metadata Documents.
type ASCIMD struct {
	Disable      bool     `yaml:"disable"`
	AllowDomains []string `yaml:"allow_domains"`
	DenyDomains  []string `yaml:"deny_domains"`
}

// ASRegistration configures dynamic client registration.
type ASRegistration struct {
	Disable bool `yaml:"disable"`
	// RateLimit is registrations per client IP per hour. Default 20.
	RateLimit int `yaml:"rate_limit"`
	// UnusedTTL removes registrations that never got a token. Default 24h.
	UnusedTTL Duration `yaml:"unused_ttl"`
}

// ASTrustedIssuer is another issuer whose access tokens may be exchanged.
type ASTrustedIssuer struct {
	Issuer   string `yaml:"issuer"`
	JWKSURI  string `yaml:"jwks_uri"`
	Audience string `yaml:"audience"`
}

// ASIdentityProvider is an issuer of ID-JAGs.
type ASIdentityProvider struct {
	Issuer  string `yaml:"issuer"`
	JWKSURI string `yaml:"jwks_uri"`
}

// EmbeddedIssuer returns the embedded authorization server's issuer, or
// "" when it is off.
func (c *Config) EmbeddedIssuer() string {
	if !c.AuthServer.Enabled {
		return ""
	}
	if c.AuthServer.Issuer != "" {
		return strings.TrimSuffix(c.AuthServer.Issuer, "/")
	}
	return c.PublicURL
}

func (c *Config) validateAuthServer(add addFunc) {
	as := c.AuthServer
	if !as.Enabled {
		return
	}
	iss := c.EmbeddedIssuer()
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		add("authserver.issuer", "must be https (http only on a loopback host), got %q", iss)
	}
	switch as.SigningAlgorithm {
	case "", "ES256", "RS256", "EdDSA":
	default:
		add("authserver.signing_algorithm", "must be ES256, RS256 or EdDSA")
	}
	if as.DefaultServer != "" && !c.hasServer(as.DefaultServer) {
		add("authserver.default_server", "names no server: %q", as.DefaultServer)
	}
	for i, cl := range as.Clients {
		if cl.ID == "" || strings.HasPrefix(cl.ID, "https://") {
			add(fmt.Sprintf("authserver.clients[%d].id", i), "required, and must not look like a metadata document URL")
		}
		for _, r := range cl.Resources {
			if !strings.Contains(r, "://") && !c.hasServer(r) {
				add(fmt.Sprintf("authserver.clients[%d].resources", i), "%q is neither a server name nor a resource URI", r)
			}
		}
	}
	if l := as.Login; l.RateLimit < 0 || l.AccountRateLimit < 0 || l.MaxConcurrentHashes < 0 {
		add("authserver.login", "limits must not be negative")
	}
	for i, p := range as.IdentityProviders {
		at := fmt.Sprintf("authserver.identity_providers[%d]", i)
		if u, err := url.Parse(p.Issuer); p.Issuer == "" || err != nil || !u.IsAbs() {
			add(at+".issuer", "required: the identity provider's issuer URL")
		}
		if u, err := url.Parse(p.JWKSURI); err != nil || u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			add(at+".jwks_uri", "must be https (http only on a loopback host)")
		}
	}
	if as.DPoP.NonceLifetime.D() < 0 {
		add("authserver.dpop.nonce_lifetime", "must not be negative")
	}
	if up := as.Upstream; up != nil {
		if up.Issuer == "" || up.ClientID == "" {
			add("authserver.upstream", "issuer and client_id are required")
		}
		up.ClientSecret.required("authserver.upstream.client_secret", add)
	}
	// With an issuer at the root, the authorization server's endpoints
	// share the path space with the routes.
	if u != nil && (u.Path == "" || u.Path == "/") {
		for i, s := range c.Servers {
			for _, p := range []string{"/authorize", "/token", "/register", "/revoke", "/introspect", "/login", "/logout", "/consent", "/consents", "/jwks.json", "/static", "/federation", "/userinfo"} {
				if s.Path == p || strings.HasPrefix(s.Path, p+"/") {
					add(fmt.Sprintf("servers[%d].path", i), "%q collides with the authorization server's %s endpoint", s.Path, p)
				}
			}
		}
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1" || strings.HasPrefix(host, "127.")
}

func (c *Config) hasServer(name string) bool {
	for _, s := range c.Servers {
		if s.Name == name {
			return true
		}
	}
	return false
}
