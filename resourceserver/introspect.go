package resourceserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// Secret is a credential that keeps itself out of logs and formatted
// output: fmt and slog print "[redacted]".
type Secret string

// String redacts the secret for fmt's %v and %s.
func (Secret) String() string { return "[redacted]" }

// GoString redacts the secret for fmt's %#v.
func (Secret) GoString() string { return `"[redacted]"` }

// LogValue redacts the secret for log/slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// MarshalText redacts the secret in JSON and other text encodings; the
// secret is used only through string(s).
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Client authentication methods for the introspection endpoint (RFC 7591
// §2 token_endpoint_auth_method values).
const (
	ClientSecretBasic = "client_secret_basic"
	ClientSecretPost  = "client_secret_post"
)

// IntrospectionOptions configures an [IntrospectionVerifier].
type IntrospectionOptions struct {
	// Issuer is the authorization server's issuer identifier. When the
	// response carries "iss", it must be identical. When Endpoint is
	// empty, the endpoint is discovered from the issuer's metadata
	// (RFC 8414 "introspection_endpoint"). When set, a [Multi] may route
	// JWTs naming this issuer here.
	Issuer string
	// Endpoint is the RFC 7662 introspection endpoint. Required unless
	// Issuer is set. It must be https, or http on a loopback host.
	Endpoint string
	// ClientID and ClientSecret authenticate this resource server to the
	// endpoint (RFC 7662 §2.1: the endpoint MUST require authorization).
	// Required.
	ClientID     string
	ClientSecret Secret
	// ClientSecretSource, if set, is called for the secret at every
	// introspection request instead of using ClientSecret (which may then
	// be empty), so that a rotated secret is used without a restart.
	ClientSecretSource func() Secret
	// AuthMethod is ClientSecretBasic (the default when empty) or
	// ClientSecretPost.
	AuthMethod string
	// Audiences are the resource identifiers this verifier accepts tokens
	// for: the response "aud" must contain one (RFC 8707 §2). Required.
	Audiences []string
	// InsecureAllowMissingAudience accepts active tokens whose
	// introspection response has no "aud" at all. Insecure: a token
	// issued for another resource of the same authorization server would
	// be accepted here.
	InsecureAllowMissingAudience bool
	// Leeway is the clock skew allowed on exp and nbf. If zero,
	// [DefaultLeeway]; at most [MaxLeeway].
	Leeway time.Duration
	// MaxTokenBytes bounds the token size. If zero, [DefaultMaxTokenBytes].
	MaxTokenBytes int
	// HTTPClient calls the endpoint. If nil, a client with a 10s timeout
	// that does not follow redirects.
	HTTPClient *http.Client
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Logger receives endpoint failures. If nil, nothing is logged.
	Logger *slog.Logger
	// InsecureAllowHTTP allows a plain-http endpoint on a non-loopback
	// host. Insecure: tokens and the client secret travel in clear text.
	InsecureAllowHTTP bool
	// GroupsClaim and Claims are read from the introspection response
	// as [JWTOptions] reads them from a JWT.
	GroupsClaim string
	Claims      []string
}

// IntrospectionVerifier validates tokens, typically opaque ones, by asking
// the authorization server (RFC 7662). It does not cache: wrap it in a
// [Cache], which reuses an answer up to the token's expiry and the cache's
// MaxAge, the bound on how late a revocation is noticed.
type IntrospectionVerifier struct {
	issuer      string
	auth        string // ClientSecretBasic or ClientSecretPost
	clientID    string
	secret      Secret
	source      func() Secret
	basic       string // precomputed Authorization header value
	audiences   []string
	allowNoAud  bool
	leeway      time.Duration
	maxBytes    int
	client      *http.Client
	now         func() time.Time
	logger      *slog.Logger
	endpointMu  sync.Mutex
	endpoint    string // configured or discovered; guarded by endpointMu
	lastDiscErr time.Time
	claims      claimSpec
}

var (
	_ Verifier       = (*IntrospectionVerifier)(nil)
	_ IssuerVerifier = (*IntrospectionVerifier)(nil)
)

// NewIntrospectionVerifier returns a verifier for opts. It does not
// contact the authorization server.
func NewIntrospectionVerifier(opts IntrospectionOptions) (*IntrospectionVerifier, error) {
	if opts.Endpoint == "" && opts.Issuer == "" {
		return nil, errors.New("resourceserver: IntrospectionOptions needs Endpoint or Issuer")
	}
	if opts.Endpoint != "" {
		if err := checkSecureURL("IntrospectionOptions.Endpoint", opts.Endpoint, opts.InsecureAllowHTTP); err != nil {
			return nil, fmt.Errorf("resourceserver: %w", err)
		}
	}
	if opts.Issuer != "" {
		if _, err := metadataURLs(opts.Issuer); err != nil {
			return nil, fmt.Errorf("resourceserver: %w", err)
		}
		if err := checkSecureURL("IntrospectionOptions.Issuer", opts.Issuer, opts.InsecureAllowHTTP); err != nil {
			return nil, fmt.Errorf("resourceserver: %w", err)
		}
	}
	if opts.ClientID == "" || (opts.ClientSecret == "" && opts.ClientSecretSource == nil) {
		return nil, errors.New("resourceserver: IntrospectionOptions.ClientID and ClientSecret are required (RFC 7662 §2.1)")
	}
	auth := opts.AuthMethod
	if auth == "" {
		auth = ClientSecretBasic
	}
	if auth != ClientSecretBasic && auth != ClientSecretPost {
		return nil, fmt.Errorf("resourceserver: IntrospectionOptions.AuthMethod %q is not supported", auth)
	}
	auds, err := canonicalAudiences("IntrospectionOptions.Audiences", opts.Audiences)
	if err != nil {
		return nil, err
	}
	leeway := opts.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	if leeway < 0 || leeway > MaxLeeway {
		return nil, fmt.Errorf("resourceserver: IntrospectionOptions.Leeway must be between 0 and %s", MaxLeeway)
	}
	v := &IntrospectionVerifier{
		issuer:     opts.Issuer,
		auth:       auth,
		clientID:   opts.ClientID,
		secret:     opts.ClientSecret,
		source:     opts.ClientSecretSource,
		audiences:  auds,
		allowNoAud: opts.InsecureAllowMissingAudience,
		leeway:     leeway,
		maxBytes:   opts.MaxTokenBytes,
		client:     opts.HTTPClient,
		now:        opts.Now,
		logger:     opts.Logger,
		endpoint:   opts.Endpoint,
		claims:     newClaimSpec(opts.GroupsClaim, opts.Claims),
	}
	if v.maxBytes <= 0 {
		v.maxBytes = DefaultMaxTokenBytes
	}
	if v.client == nil {
		v.client = defaultHTTPClient()
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.logger == nil {
		v.logger = slog.New(slog.DiscardHandler)
	}
	// RFC 6749 §2.3.1: client_secret_basic form-urlencodes the client id
	// and secret before base64 (many libraries forget; secrets with '+',
	// '%' or ':' then fail).
	v.basic = basicAuth(opts.ClientID, opts.ClientSecret)
	if opts.InsecureAllowMissingAudience {
		v.logger.Warn("resourceserver: InsecureAllowMissingAudience is set: introspected tokens without aud are accepted")
	}
	if opts.InsecureAllowHTTP {
		v.logger.Warn("resourceserver: InsecureAllowHTTP is set: introspection may use plain http")
	}
	return v, nil
}

// basicAuth is the client_secret_basic header value.
func basicAuth(id string, secret Secret) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(string(secret))))
}

// Issuer returns the configured issuer (possibly empty).
func (v *IntrospectionVerifier) Issuer() string { return v.issuer }

// endpointURL returns the endpoint, discovering it once if needed; failed
// discoveries are retried at most every failedRetryAt.
func (v *IntrospectionVerifier) endpointURL(ctx context.Context) (string, error) {
	v.endpointMu.Lock()
	defer v.endpointMu.Unlock()
	if v.endpoint != "" {
		return v.endpoint, nil
	}
	if now := v.now(); !v.lastDiscErr.IsZero() && now.Sub(v.lastDiscErr) < failedRetryAt {
		return "", errors.New("introspection endpoint discovery failed recently")
	}
	md, err := discover(ctx, v.client, v.issuer)
	if err == nil && md.introspectionEndpoint == "" {
		err = fmt.Errorf("issuer %s metadata has no introspection_endpoint", v.issuer)
	}
	if err != nil {
		v.lastDiscErr = v.now()
		return "", err
	}
	v.endpoint = md.introspectionEndpoint
	return v.endpoint, nil
}

// Verify asks the authorization server about token (RFC 7662 §2.1) and
// accepts it only if the response (§2.2) says "active": true, names no
// other issuer, has an "aud" naming one of the configured resources, is
// not expired or not yet valid, has a bearer token_type when it has one,
// and names a subject or client.
func (v *IntrospectionVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" || len(token) > v.maxBytes {
		return nil, invalidToken("the access token is malformed", errors.New("empty or oversized token"))
	}
	endpoint, err := v.endpointURL(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	secret, basic := v.secret, v.basic
	if v.source != nil {
		secret = v.source()
		basic = basicAuth(v.clientID, secret)
	}
	if v.auth == ClientSecretPost {
		form.Set("client_id", v.clientID)
		form.Set("client_secret", string(secret))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if v.auth == ClientSecretBasic {
		req.Header.Set("Authorization", basic)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		// The URL in a *url.Error is the endpoint, never the token (it is
		// in the body).
		v.logger.Warn("introspection request failed", "endpoint", endpoint, "error", err)
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	body, err := readBody(resp, endpoint, maxIntrospectionBytes)
	resp.Body.Close()
	if err != nil {
		v.logger.Warn("introspection request failed", "endpoint", endpoint, "error", err)
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	ir, err := parseIntrospection(body)
	if err != nil {
		v.logger.Warn("introspection response is malformed", "endpoint", endpoint, "error", err)
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	return v.check(ir)
}

// introspection is the RFC 7662 §2.2 response.
type introspection struct {
	active    bool
	tokenType string
	jwtClaims
}

func parseIntrospection(b []byte) (*introspection, error) {
	members, err := jsonx.ObjectMembers(b, maxClaimsDepth)
	if err != nil {
		return nil, fmt.Errorf("not a valid JSON object: %w", err)
	}
	var ir introspection
	var hasActive bool
	for _, m := range members {
		switch m.Key {
		case "active":
			switch strings.TrimSpace(string(m.Value)) {
			case "true":
				ir.active = true
			case "false":
			default:
				return nil, errors.New(`"active" is not a boolean`)
			}
			hasActive = true
		case "token_type":
			if ir.tokenType, err = claimString(m.Key, m.Value); err != nil {
				return nil, err
			}
		}
	}
	if !hasActive {
		return nil, errors.New(`no "active" member (RFC 7662 §2.2: REQUIRED)`)
	}
	if !ir.active {
		return &ir, nil
	}
	// The rest of the members are the JWT claim names (RFC 7662 §2.2).
	if err := parseClaims(b, &ir.jwtClaims); err != nil {
		return nil, err
	}
	return &ir, nil
}

func (v *IntrospectionVerifier) check(ir *introspection) (*Principal, error) {
	if !ir.active {
		return nil, invalidToken("the access token is not active", nil)
	}
	if t := ir.tokenType; strings.EqualFold(t, "dpop") {
		// RFC 9449 §6.2: a DPoP-bound token, usable only with its proof.
		if ir.jkt == "" {
			return nil, invalidToken("the DPoP token has no cnf.jkt", nil)
		}
	} else if t != "" && !strings.EqualFold(t, "bearer") && t != "access_token" {
		// A refresh token is "active" too; it is not an access token.
		return nil, invalidToken("the token is not a bearer access token", fmt.Errorf("token_type %q", t))
	}
	if ir.iss != "" && v.issuer != "" && ir.iss != v.issuer {
		return nil, invalidToken("the token's issuer is not trusted", fmt.Errorf("iss %q", ir.iss))
	}
	aud := canonicalizeAll(ir.aud)
	if len(aud) == 0 {
		if !v.allowNoAud {
			return nil, invalidToken("the token is not for this resource (aud)", errors.New("no aud in introspection response"))
		}
	} else if !anyIn(aud, v.audiences) {
		return nil, invalidToken("the token is not for this resource (aud)", fmt.Errorf("aud %q", ir.aud))
	}
	now := v.now()
	if !ir.exp.IsZero() && !now.Before(ir.exp.Add(v.leeway)) {
		return nil, invalidToken("the token has expired", nil)
	}
	if !ir.nbf.IsZero() && now.Add(v.leeway).Before(ir.nbf) {
		return nil, invalidToken("the token is not valid yet", nil)
	}
	if ir.sub == "" && ir.clientID == "" {
		return nil, invalidToken("the token names no subject or client", nil)
	}
	iss := ir.iss
	if iss == "" {
		iss = v.issuer
	}
	groups, claims := v.claims.extract(ir.raw)
	return &Principal{
		Issuer:   iss,
		Subject:  ir.sub,
		ClientID: ir.clientID,
		Scopes:   ir.scopes,
		Groups:   groups,
		Claims:   claims,
		Audience: aud,
		Expiry:   ir.exp,
		IssuedAt: ir.iat,
		TokenID:  ir.jti,
		JKT:      ir.jkt,
	}, nil
}

func anyIn(list, set []string) bool {
	for _, a := range list {
		if contains(set, a) {
			return true
		}
	}
	return false
}
