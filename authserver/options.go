package authserver

import (
	"crypto/x509"
	"log/slog"
	"net/http"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// Options configures a Server. Field comments are the configuration
// reference; a zero field takes the default it documents.
type Options struct {
	// Issuer is the authorization server's issuer identifier (RFC 8414
	// section 2): an https URL without query or fragment, for example
	// "https://auth.example.com" or "https://example.com/auth". Plain http
	// is accepted only for loopback hosts (127.0.0.1, [::1], localhost), for
	// local development. Metadata and tokens carry it verbatim. Required.
	Issuer string

	// Store persists clients, users, consents, codes, refresh tokens,
	// keys and the metadata-document cache. Required.
	Store storage.Store

	// KeyEncryptionKey (32 bytes) seals signing keys at rest and derives
	// the keys that seal browser cookies and pending requests. All replicas
	// sharing a Store must use the same one. Required (the embedded default
	// keeps it in a file next to the database: keys.LoadOrCreateKEKFile).
	KeyEncryptionKey []byte
	// PreviousKeyEncryptionKeys, after replacing KeyEncryptionKey, still
	// open what the old keys sealed: signing keys (until they retire,
	// KeyRotationPeriod plus a day) and browser sessions and pending
	// sign-ins (until they expire). Drop them once that time has passed.
	PreviousKeyEncryptionKeys [][]byte

	// Resources are the protected resources (MCP servers) tokens can be
	// issued for. At least one is required.
	Resources []Resource
	// DefaultResource is the resource used when an authorization or token
	// request names none, so clients that omit RFC 8707 "resource" still
	// get an audience-bound token. If empty and there is exactly one
	// resource, that one; if empty with several, "resource" is required.
	DefaultResource string

	// SigningAlgorithm of access tokens: "ES256" (default), "RS256" or
	// "EdDSA".
	SigningAlgorithm string
	// KeyRotationPeriod is how long each signing key signs. If zero, 30
	// days. Successors are published 24 hours ahead; retired keys stay
	// published 24 hours, or longer if an access-token lifetime requires.
	KeyRotationPeriod time.Duration

	// AccessTokenLifetime is the default access-token lifetime. If zero,
	// 10 minutes.
	AccessTokenLifetime time.Duration
	// RefreshTokenLifetime is the absolute lifetime of a refresh-token
	// family (a sign-in): rotation does not extend it. If zero, 30 days.
	RefreshTokenLifetime time.Duration
	// CodeLifetime is the authorization-code lifetime. If zero, 60 seconds
	// (OAuth 2.1 section 4.1.2 recommends at most 10 minutes).
	CodeLifetime time.Duration
	// SessionLifetime is how long a browser sign-in lasts. If zero, 12
	// hours.
	SessionLifetime time.Duration
	// RequestLifetime is how long a user may take on the sign-in and
	// consent pages. If zero, 15 minutes.
	RequestLifetime time.Duration

	// SignInReturns are the URL prefixes (absolute, of this origin) that
	// the sign-in page GET /login?return= may send the browser back to
	// once it is signed in: pages of the gateway that need the browser's
	// user (BrowserUser). Any other return is refused: no open redirect.
	// Without any, GET /login is not served.
	SignInReturns []string

	// Clients are pre-registered (static) clients.
	Clients []StaticClient

	// DisableLocalLogin hides the username/password form. Set it when
	// users sign in only through Upstream; the sign-in page then sends them
	// straight to the upstream provider.
	DisableLocalLogin bool
	// Upstream, if set, federates sign-in to an OpenID Connect provider:
	// users authenticate there and this server issues the MCP tokens.
	Upstream *Upstream

	// CIMD configures client ID metadata documents (URL client IDs).
	CIMD CIMDOptions
	// Registration configures RFC 7591 dynamic client registration.
	Registration RegistrationOptions
	// TokenExchange configures RFC 8693 token exchange.
	TokenExchange TokenExchangeOptions
	// IdentityProviders are the enterprise identity providers whose
	// identity assertion JWT authorization grants (ID-JAG) this server
	// accepts with the JWT bearer grant. None: the grant is off.
	IdentityProviders []IdentityProvider
	// DPoP configures sender-constrained tokens (RFC 9449).
	DPoP DPoPOptions

	// LoginRateLimit is the number of sign-in attempts allowed per client
	// network per minute: per IPv4 address, per IPv6 /64. Attempts are
	// counted before the password is checked, so concurrent guesses cannot
	// slip past the limit; one that succeeds is given back. If zero, 10.
	LoginRateLimit int
	// LoginAccountRateLimit is the number of sign-in attempts allowed per
	// username per 5 minutes, from any address, whether or not the account
	// exists (so the refusal reveals nothing). While it holds, the
	// account's owner is refused too: it trades a short lockout for a cap
	// on guesses that spreading them over many addresses cannot lift. If
	// zero, 10.
	LoginAccountRateLimit int
	// MaxConcurrentPasswordHashes caps the password checks running at
	// once; each argon2id check holds 19 MiB and a core for tens of
	// milliseconds. A sign-in beyond the cap is answered 503 with
	// Retry-After at once, never queued. If zero, twice GOMAXPROCS, at
	// least 4 (4 checks, 76 MiB, on two cores).
	MaxConcurrentPasswordHashes int
	// RateLimiter keeps the sign-in and registration counters. If nil,
	// each process keeps its own, in bounded memory; replicas then each
	// apply the limits. Supply one backed by a shared store (storage/redis)
	// so that the limits hold across replicas; its errors refuse sign-in
	// and registration (fail closed).
	RateLimiter RateLimiter
	// ClientIP returns the client address that rate limits key on and logs
	// show. If nil, the host of the request's RemoteAddr. Behind a load
	// balancer, use a transport/clientip Resolver that trusts only that
	// balancer's forwarding header.
	ClientIP func(*http.Request) string

	// ServiceName is shown on the sign-in and consent pages. If empty,
	// "mcpfort".
	ServiceName string
	// HTTPClient is used for the upstream identity provider and for
	// trusted token-exchange issuers (operator-configured endpoints). If
	// nil, a client with a 10-second timeout. Client-supplied URLs never
	// use it: they go through the SSRF-safe metadata fetcher.
	HTTPClient *http.Client
	// Logger receives operational events; tokens and secrets are never
	// logged. If nil, nothing is logged.
	Logger *slog.Logger
	// Revoker is told of every revocation of tokens this server issued
	// (RFC 7009 revocation, refresh-token reuse, code replay, withdrawn
	// consent), so that resource servers validating its JWT access tokens
	// locally stop accepting them. If nil, revoked access tokens stay
	// valid at such resource servers until they expire.
	Revoker Revoker
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// SweepInterval is how often Run deletes expired records, expires
	// unused registrations and rotates keys. If zero, 10 minutes.
	SweepInterval time.Duration
}

// Resource is a protected resource, typically one MCP server endpoint.
type Resource struct {
	// URI is the RFC 8707 resource identifier: the MCP server's canonical
	// URL (absolute, no fragment), for example
	// "https://mcp.example.com/github/mcp". It becomes the token's "aud".
	// Requests match it ignoring case in scheme and host and a trailing
	// slash.
	URI string
	// Name is shown on the consent page. If empty, the URI.
	Name string
	// Scopes the resource understands. Requested scopes that no requested
	// resource lists are ignored (RFC 6749 section 3.3).
	Scopes []string
	// DefaultScopes are granted when the client requests none of the
	// resource's scopes. They must be among Scopes.
	DefaultScopes []string
	// BaseScopes are the scopes every user allowed on the resource may
	// hold. If nil, DefaultScopes. A scope that is neither a base scope
	// nor in a Grant the user's groups match is never granted to a user.
	BaseScopes []string
	// Grants give further scopes to members of groups.
	Grants []Grant
	// Groups, if not empty, restricts the resource to users in at least
	// one of these groups: others are refused (access_denied).
	Groups []string
	// ExchangeOnly marks an upstream resource whose tokens are obtained
	// only by RFC 8693 token exchange, never through an authorization
	// code or client credentials.
	ExchangeOnly bool
	// ScopeDescriptions explain scopes in words on the consent page.
	ScopeDescriptions map[string]string
	// AccessTokenLifetime overrides Options.AccessTokenLifetime for tokens
	// whose audience is this resource alone.
	AccessTokenLifetime time.Duration
}

// Grant gives scopes of a resource to the members of groups.
type Grant struct {
	// Scopes granted; each must be among the resource's Scopes.
	Scopes []string
	// Groups whose members get Scopes; "*" means every user allowed on
	// the resource.
	Groups []string
}

// StaticClient is an operator-registered client.
type StaticClient struct {
	// ID is the client_id. It must not start with "https://" (that form is
	// reserved for metadata-document clients).
	ID string
	// Name is shown on the consent page.
	Name string
	// Secret, for confidential clients authenticating with
	// client_secret_basic or client_secret_post: at least 32 characters.
	// It is hashed at start and never kept in clear.
	Secret string
	// RedirectURIs for the authorization-code grant: https, or http on a
	// loopback host (any port matches, RFC 8252 section 7.3).
	RedirectURIs []string
	// GrantTypes the client may use. If empty, authorization_code and
	// refresh_token.
	GrantTypes []string
	// TokenEndpointAuthMethod: "none" (public client), "client_secret_basic"
	// (default when Secret is set), "client_secret_post" or
	// "private_key_jwt" (set JWKS or JWKSURI).
	TokenEndpointAuthMethod string
	// JWKS is the client's public JWK Set (JSON) for private_key_jwt.
	JWKS string
	// JWKSURI is where the client publishes its JWK Set, for
	// private_key_jwt.
	JWKSURI string
	// SkipConsent marks a first-party client whose authorizations need no
	// consent page.
	SkipConsent bool
	// DPoPBoundAccessTokens refuses token requests without a DPoP proof
	// (RFC 9449 section 5.2 dpop_bound_access_tokens).
	DPoPBoundAccessTokens bool
	// Resources (URIs) the client may obtain tokens for on its own behalf
	// (client_credentials) or as token-exchange targets. Required for
	// those grants: a machine client gets nothing not listed here.
	Resources []string
	// Scopes the client may obtain with client_credentials or token
	// exchange. A scope of none of its Resources is a configuration
	// error.
	Scopes []string
	// ResourceServer lets the client use RFC 7662 introspection. Other
	// clients get unauthorized_client there.
	ResourceServer bool
}

// Upstream federates sign-in to an OpenID Connect provider (OpenID Connect
// Core 1.0, authorization code flow with PKCE).
type Upstream struct {
	// Issuer of the provider; its discovery document is fetched from
	// Issuer + "/.well-known/openid-configuration". Required.
	Issuer string
	// ClientID and ClientSecret registered at the provider for this
	// server. The redirect URI to register is Issuer of this server +
	// "/federation/callback".
	ClientID     string
	ClientSecret string
	// ClientSecretSource, if set, is called for the secret at each code
	// redemption instead of using ClientSecret, so that a rotated secret
	// is used without a restart.
	ClientSecretSource func() string
	// Name on the sign-in button. If empty, "your organization".
	Name string
	// Scopes requested; "openid" is always included. If empty, "openid
	// email profile".
	Scopes []string
	// DisableAutoCreate refuses sign-in to federated identities that have
	// no user yet; by default a user is created at first sign-in.
	DisableAutoCreate bool
	// GroupsClaim names the ID token claim (an array of strings, or one
	// string) holding the user's groups, for example "groups" or
	// "roles"; a dotted name walks nested objects ("realm_access.roles").
	// The user's groups are replaced by it at every sign-in. If empty,
	// federated users' groups are left as the operator set them.
	GroupsClaim string
}

// CIMDOptions configures client ID metadata documents.
type CIMDOptions struct {
	// Disable refuses URL client IDs.
	Disable bool
	// AllowDomains, if not empty, restricts metadata documents to these
	// hosts and their subdomains.
	AllowDomains []string
	// DenyDomains are refused (with their subdomains); deny wins.
	DenyDomains []string
	// FetchTimeout bounds one document fetch. If zero, 5 seconds.
	FetchTimeout time.Duration
	// MinCacheTTL and MaxCacheTTL clamp the HTTP caching lifetime of a
	// document. If zero, 5 minutes and 24 hours.
	MinCacheTTL, MaxCacheTTL time.Duration
	// RootCAs replaces the system roots for document fetches (tests).
	RootCAs *x509.CertPool
	// InsecureAllowLoopback lets documents be fetched from loopback
	// addresses. Tests only: never set it in production.
	InsecureAllowLoopback bool
}

// RegistrationOptions configures RFC 7591 dynamic client registration.
type RegistrationOptions struct {
	// Disable turns the registration endpoint off (and removes it from
	// the metadata).
	Disable bool
	// RateLimit is the number of registrations allowed per client network
	// (IPv4 address, IPv6 /64) per hour, counted in Options.RateLimiter.
	// If zero, 20.
	RateLimit int
	// UnusedTTL removes registrations that never obtained a token after
	// this long. If zero, 24 hours.
	UnusedTTL time.Duration
	// IdleTTL removes registrations that obtained no token for this long.
	// If zero, 90 days.
	IdleTTL time.Duration
}

// TokenExchangeOptions configures RFC 8693 token exchange.
type TokenExchangeOptions struct {
	// TrustedIssuers whose access tokens (JWTs) may be exchanged, besides
	// this server's own.
	TrustedIssuers []TrustedIssuer
}

// IdentityProvider is an enterprise identity provider that issues
// identity assertion JWT authorization grants (ID-JAG,
// draft-ietf-oauth-identity-assertion-authz-grant; the MCP
// enterprise-managed authorization extension) for this server.
type IdentityProvider struct {
	// Issuer is the expected "iss" claim.
	Issuer string
	// JWKSURI is where its signing keys are published. Required.
	JWKSURI string
}

// TrustedIssuer is another authorization server whose JWT access tokens
// this server accepts as RFC 8693 subject tokens.
type TrustedIssuer struct {
	// Issuer is the expected "iss" claim.
	Issuer string
	// JWKSURI is where its signing keys are published. Required.
	JWKSURI string
	// Audience must be among the subject token's "aud" values: the
	// identifier under which that issuer mints tokens for the exchanging
	// client (typically the gateway). Required, so that the issuer's ID
	// tokens and tokens meant for other services are not accepted.
	Audience string
}
