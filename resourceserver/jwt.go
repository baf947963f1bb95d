package resourceserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// defaultAlgorithms are the JWS algorithms a [JWTVerifier] accepts unless
// told otherwise: the asymmetric algorithms of RFC 7518 §3.1 and EdDSA
// (RFC 8037). "none" and the HMAC algorithms are never accepted: a resource
// server holding only public keys must not let a token pick a symmetric
// algorithm (RFC 8725 §2.1, §3.1). Never modified.
var defaultAlgorithms = []string{
	"ES256", "ES384", "ES512",
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"EdDSA",
}

// DefaultAlgorithms returns the default JWS algorithm allow-list.
func DefaultAlgorithms() []string { return append([]string(nil), defaultAlgorithms...) }

// Bounds on clock skew.
const (
	DefaultLeeway = 30 * time.Second
	MaxLeeway     = 5 * time.Minute
)

// JWTOptions configures a [JWTVerifier]. The zero value of every optional
// field is the secure default.
type JWTOptions struct {
	// Issuer is the trusted issuer identifier, compared to "iss" exactly
	// (RFC 9068 §4, RFC 8414 §2). Required. It must be https, or http on a
	// loopback host.
	Issuer string
	// Audiences are the resource identifiers this verifier accepts tokens
	// for: "aud" must contain at least one (RFC 9068 §4, RFC 8707 §2).
	// Required; values are canonicalized with [CanonicalResource], and
	// "aud" is compared to the canonical form.
	Audiences []string
	// JWKSURL is where the issuer's signing keys are. If empty, it is
	// discovered from the issuer's metadata (RFC 8414 §3, then OpenID
	// Connect Discovery 1.0 §4), whose "issuer" must equal Issuer exactly.
	JWKSURL string
	// Algorithms is the JWS "alg" allow-list. If nil, [DefaultAlgorithms].
	// "none" and HS256/384/512 are refused by NewJWTVerifier.
	Algorithms []string
	// Types are the accepted "typ" header values, compared
	// case-insensitively with any "application/" prefix removed (RFC 7515
	// §4.1.9). If nil, "at+jwt" only (RFC 9068 §4: the resource server MUST
	// check it, which keeps ID tokens and other JWTs out). Issuers that do
	// not type their access tokens (Entra ID and Auth0 send "JWT") need
	// "jwt" here; audience and issuer checks still keep other tokens out.
	Types []string
	// Leeway is the clock skew allowed on exp, nbf and iat. If zero,
	// [DefaultLeeway]; at most [MaxLeeway].
	Leeway time.Duration
	// KeysMaxAge is how long fetched keys are used before being refetched.
	// If zero, 1 hour.
	KeysMaxAge time.Duration
	// KeysMinRefresh is the least time between two key fetches triggered
	// by tokens with an unknown kid: the bound on how much a flood of
	// made-up kids can make this verifier fetch. If zero, 30 seconds.
	KeysMinRefresh time.Duration
	// MaxTokenBytes bounds the token size. If zero, [DefaultMaxTokenBytes].
	MaxTokenBytes int
	// HTTPClient fetches metadata and keys. If nil, a client with a 10s
	// timeout that does not follow redirects.
	HTTPClient *http.Client
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// Logger receives key-fetch failures. If nil, nothing is logged.
	Logger *slog.Logger
	// InsecureAllowHTTP allows plain-http Issuer and JWKSURL on
	// non-loopback hosts. Insecure: keys fetched over http can be replaced
	// by anyone on the path.
	InsecureAllowHTTP bool
	// GroupsClaim names the claim the user's groups are read from into
	// Principal.Groups ("roles", "cognito:groups", or a nested
	// "realm_access.roles": see [ClaimValues]). If empty,
	// [DefaultGroupsClaim].
	GroupsClaim string
	// Claims names further claims copied into Principal.Claims, for
	// authorization rules that decide on them.
	Claims []string
}

// JWTVerifier validates RFC 9068 JWT access tokens of one issuer.
type JWTVerifier struct {
	issuer    string
	audiences []string
	algs      []string
	types     []string
	leeway    time.Duration
	maxBytes  int
	now       func() time.Time
	keys      *jwksCache
	claims    claimSpec
}

var (
	_ Verifier       = (*JWTVerifier)(nil)
	_ IssuerVerifier = (*JWTVerifier)(nil)
)

// NewJWTVerifier returns a verifier for opts. It does not contact the
// issuer: metadata and keys are fetched when the first token arrives.
func NewJWTVerifier(opts JWTOptions) (*JWTVerifier, error) {
	if opts.Issuer == "" {
		return nil, errors.New("resourceserver: JWTOptions.Issuer is required")
	}
	if _, err := metadataURLs(opts.Issuer); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	if err := checkSecureURL("JWTOptions.Issuer", opts.Issuer, opts.InsecureAllowHTTP); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	if opts.JWKSURL != "" {
		if err := checkSecureURL("JWTOptions.JWKSURL", opts.JWKSURL, opts.InsecureAllowHTTP); err != nil {
			return nil, fmt.Errorf("resourceserver: %w", err)
		}
	}
	auds, err := canonicalAudiences("JWTOptions.Audiences", opts.Audiences)
	if err != nil {
		return nil, err
	}
	algs := opts.Algorithms
	if algs == nil {
		algs = defaultAlgorithms
	}
	if len(algs) == 0 {
		return nil, errors.New("resourceserver: JWTOptions.Algorithms is empty")
	}
	for _, a := range algs {
		if !contains(defaultAlgorithms, a) {
			return nil, fmt.Errorf("resourceserver: JWTOptions.Algorithms: %q is not an accepted asymmetric JWS algorithm", a)
		}
	}
	types := opts.Types
	if types == nil {
		types = []string{"at+jwt"}
	}
	normTypes := make([]string, 0, len(types))
	for _, t := range types {
		if t == "" {
			return nil, errors.New("resourceserver: JWTOptions.Types holds an empty type")
		}
		normTypes = append(normTypes, normalizeTyp(t))
	}
	leeway := opts.Leeway
	if leeway == 0 {
		leeway = DefaultLeeway
	}
	if leeway < 0 || leeway > MaxLeeway {
		return nil, fmt.Errorf("resourceserver: JWTOptions.Leeway must be between 0 and %s", MaxLeeway)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	client := opts.HTTPClient
	if client == nil {
		client = defaultHTTPClient()
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	maxAge := opts.KeysMaxAge
	if maxAge <= 0 {
		maxAge = time.Hour
	}
	minRefresh := opts.KeysMinRefresh
	if minRefresh <= 0 {
		minRefresh = 30 * time.Second
	}
	if opts.InsecureAllowHTTP {
		logger.Warn("resourceserver: InsecureAllowHTTP is set: signing keys may be fetched over plain http", "issuer", opts.Issuer)
	}
	return &JWTVerifier{
		issuer:    opts.Issuer,
		audiences: auds,
		algs:      algs,
		types:     normTypes,
		leeway:    leeway,
		maxBytes:  opts.MaxTokenBytes,
		now:       now,
		claims:    newClaimSpec(opts.GroupsClaim, opts.Claims),
		keys: &jwksCache{
			issuer:     opts.Issuer,
			jwksURL:    opts.JWKSURL,
			client:     client,
			now:        now,
			minRefresh: minRefresh,
			maxAge:     maxAge,
			logger:     logger,
		},
	}, nil
}

func canonicalAudiences(field string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, fmt.Errorf("resourceserver: %s is required: tokens must be checked against this resource (RFC 8707 §2)", field)
	}
	out := make([]string, 0, len(in))
	for _, a := range in {
		c, err := CanonicalResource(a)
		if err != nil {
			return nil, fmt.Errorf("resourceserver: %s: %w", field, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// normalizeTyp applies RFC 7515 §4.1.9: media types are case-insensitive
// and "application/" may be omitted.
func normalizeTyp(t string) string {
	t = strings.ToLower(t)
	return strings.TrimPrefix(t, "application/")
}

// Issuer returns the issuer this verifier trusts.
func (v *JWTVerifier) Issuer() string { return v.issuer }

// Verify validates token as RFC 9068 §4 describes: a JWS compact
// serialization with an allowed "alg" and "typ", signed by a key of the
// issuer's JWKS, "iss" identical to the issuer, "aud" naming one of the
// configured resources, "exp" in the future and "nbf"/"iat" not in the
// future (within the leeway), and a subject or client_id.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	p, err := parseJWT(token, v.maxBytes)
	if err != nil {
		return nil, invalidToken("the access token is malformed", err)
	}
	return v.verifyParsed(ctx, token, p)
}

func (v *JWTVerifier) verifyParsed(ctx context.Context, token string, p *parsedJWT) (*Principal, error) {
	h, c := &p.header, &p.claims
	if !contains(v.algs, h.alg) {
		return nil, invalidToken("the token's signing algorithm is not accepted", fmt.Errorf("alg %q", h.alg))
	}
	if !contains(v.types, normalizeTyp(h.typ)) {
		return nil, invalidToken("the token is not an access token (typ)", fmt.Errorf("typ %q", h.typ))
	}
	// The cheap claim checks come before the signature: an expired or
	// foreign token costs no public-key operation.
	if c.iss != v.issuer {
		return nil, invalidToken("the token's issuer is not trusted", fmt.Errorf("iss %q", c.iss))
	}
	aud := canonicalizeAll(c.aud)
	if !v.audienceOK(aud) {
		return nil, invalidToken("the token is not for this resource (aud)", fmt.Errorf("aud %q", c.aud))
	}
	now := v.now()
	if c.exp.IsZero() {
		return nil, invalidToken("the token has no expiry", nil)
	}
	if !now.Before(c.exp.Add(v.leeway)) {
		return nil, invalidToken("the token has expired", nil)
	}
	if !c.nbf.IsZero() && now.Add(v.leeway).Before(c.nbf) {
		return nil, invalidToken("the token is not valid yet", nil)
	}
	if !c.iat.IsZero() && now.Add(v.leeway).Before(c.iat) {
		return nil, invalidToken("the token was issued in the future", nil)
	}
	if c.sub == "" && c.clientID == "" {
		return nil, invalidToken("the token names no subject or client", nil)
	}
	keys, err := v.keys.lookup(ctx, h.alg, h.kid)
	if err != nil {
		return nil, err
	}
	var sigErr error
	for _, k := range keys {
		if sigErr = verifyJWS(token, h.alg, k.key); sigErr == nil {
			break
		}
	}
	if sigErr != nil {
		return nil, invalidToken("the token's signature is invalid", sigErr)
	}
	groups, claims := v.claims.extract(c.raw)
	return &Principal{
		Issuer:   c.iss,
		Subject:  c.sub,
		ClientID: c.clientID,
		Scopes:   c.scopes,
		Groups:   groups,
		Claims:   claims,
		Audience: aud,
		Expiry:   c.exp,
		IssuedAt: c.iat,
		TokenID:  c.jti,
		GrantID:  c.sid,
		JKT:      c.jkt,
	}, nil
}

// canonicalizeAll returns the audiences in canonical form, so that an issuer
// echoing a client's "HTTPS://MCP.example.com/" still matches
// "https://mcp.example.com" (the MCP authorization specification asks
// servers to accept uppercase scheme and host). Values that are not http(s)
// URIs are kept as they are.
func canonicalizeAll(aud []string) []string {
	out := aud
	for i, a := range aud {
		c, err := CanonicalResource(a)
		if err != nil || c == a {
			continue
		}
		if &out[0] == &aud[0] {
			out = append([]string(nil), aud...)
		}
		out[i] = c
	}
	return out
}

func (v *JWTVerifier) audienceOK(aud []string) bool {
	for _, a := range aud {
		if contains(v.audiences, a) {
			return true
		}
	}
	return false
}
