package resourceserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/oauth/dpop"
)

// MiddlewareOptions configures a [Middleware].
type MiddlewareOptions struct {
	// Verifier validates tokens. Required. Wrap slow verifiers in a
	// [Cache]: JWT signatures cost tens of microseconds and introspection
	// a network round trip.
	Verifier Verifier
	// Resource is the canonical URI of the protected MCP endpoint, the
	// one clients dial (see [CanonicalResource]). Required. Every token's
	// audience must contain it: a token for a sibling server behind the
	// same gateway is refused here even if the Verifier accepts both. It
	// must be https, or http on a loopback host.
	Resource string
	// ResourceMetadataURL is sent in every challenge as resource_metadata
	// (RFC 9728 §5.1). If empty, the path-suffixed well-known URL of
	// Resource ([MetadataURL]).
	ResourceMetadataURL string
	// Scopes are required on every request: a token missing one gets 403
	// insufficient_scope listing them all. Checked with [Satisfies].
	Scopes []string
	// ChallengeScopes is the scope attribute of 401 challenges: what a
	// client should ask for when it has no token or an invalid one (the
	// MCP authorization specification, "Scope Selection Strategy"). If
	// nil, Scopes. Never include offline_access.
	ChallengeScopes []string
	// Realm is the optional realm attribute of challenges.
	Realm string
	// MaxTokenBytes bounds the Authorization header: a larger one is 400
	// invalid_request. If zero, [DefaultMaxTokenBytes].
	MaxTokenBytes int
	// Logger receives one Debug record per refused request (reason and
	// cause, never the token). If nil, nothing is logged.
	Logger *slog.Logger
	// InsecureAllowHTTP allows a plain-http Resource on a non-loopback
	// host. Insecure: bearer tokens travel in clear text.
	InsecureAllowHTTP bool
	// DPoP, if set, accepts DPoP-bound tokens with their proofs
	// ("Authorization: DPoP", RFC 9449 section 7). Without it a DPoP-bound
	// token is always refused: it is never accepted as a Bearer token.
	DPoP *DPoPOptions
}

// DPoPOptions configures DPoP at a resource server (RFC 9449 section 7).
type DPoPOptions struct {
	// Replay remembers proof identifiers (section 11.1). Required; a
	// [dpop.MemoryReplayCache] serves a single replica.
	Replay dpop.ReplayCache
	// Algorithms accepted for proofs; nil means [DefaultDPoPAlgorithms].
	Algorithms []string
	// Window bounds |iat - now|; zero means [dpop.DefaultWindow].
	Window time.Duration
	// Required refuses Bearer tokens: only DPoP-bound tokens with a valid
	// proof are accepted (RFC 9449 section 7.2 lets a resource require it).
	Required bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Nonces, if set, makes every proof carry a nonce from it (RFC 9449
	// section 9): a proof without one, or with a stale one, is answered
	// 401 use_dpop_nonce with a fresh DPoP-Nonce header, and accepted
	// DPoP requests get the next nonce in DPoP-Nonce ([Middleware.Wrap],
	// [Middleware.NextNonce]). A [dpop.Nonces] serves every replica that
	// shares its secrets.
	Nonces NonceSource
}

// NonceSource issues and checks DPoP server nonces; [dpop.Nonces]
// implements it.
type NonceSource interface {
	Issue() (string, error)
	Check(nonce string) error
}

// Middleware guards MCP endpoints: only requests with a valid token for
// Resource reach the next handler.
type Middleware struct {
	verifier        Verifier
	resource        string
	metadataURL     string
	scopes          []string
	challengeScopes []string
	realm           string
	maxBytes        int
	logger          *slog.Logger
	dpop            *DPoPOptions
	dpopChallenge   *dpopChallenge
}

// NewMiddleware returns a Middleware for opts.
func NewMiddleware(opts MiddlewareOptions) (*Middleware, error) {
	if opts.Verifier == nil {
		return nil, errors.New("resourceserver: MiddlewareOptions.Verifier is required")
	}
	if opts.Resource == "" {
		return nil, errors.New("resourceserver: MiddlewareOptions.Resource is required")
	}
	res, err := CanonicalResource(opts.Resource)
	if err != nil {
		return nil, fmt.Errorf("resourceserver: MiddlewareOptions.Resource: %w", err)
	}
	if err := checkSecureURL("MiddlewareOptions.Resource", res, opts.InsecureAllowHTTP); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	md := opts.ResourceMetadataURL
	if md == "" {
		if md, err = MetadataURL(res); err != nil {
			return nil, fmt.Errorf("resourceserver: %w", err)
		}
	} else if u, err := url.Parse(md); err != nil || !u.IsAbs() {
		return nil, fmt.Errorf("resourceserver: MiddlewareOptions.ResourceMetadataURL %q is not an absolute URL", md)
	}
	if err := checkScopes("MiddlewareOptions.Scopes", opts.Scopes); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	cs := opts.ChallengeScopes
	if cs == nil {
		cs = opts.Scopes
	}
	if err := checkScopes("MiddlewareOptions.ChallengeScopes", cs); err != nil {
		return nil, fmt.Errorf("resourceserver: %w", err)
	}
	if contains(cs, "offline_access") {
		return nil, errors.New("resourceserver: challenge scopes must not include offline_access (MCP authorization: refresh tokens are not a resource requirement)")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.InsecureAllowHTTP {
		logger.Warn("resourceserver: InsecureAllowHTTP is set: bearer tokens may travel over plain http", "resource", res)
	}
	var dc *dpopChallenge
	if opts.DPoP != nil {
		if opts.DPoP.Replay == nil {
			return nil, errors.New("resourceserver: DPoPOptions.Replay is required")
		}
		dc = &dpopChallenge{algs: dpopAlgsString(opts.DPoP.Algorithms), required: opts.DPoP.Required}
	}
	return &Middleware{
		dpop:            opts.DPoP,
		dpopChallenge:   dc,
		verifier:        opts.Verifier,
		resource:        res,
		metadataURL:     md,
		scopes:          opts.Scopes,
		challengeScopes: cs,
		realm:           opts.Realm,
		maxBytes:        opts.MaxTokenBytes,
		logger:          logger,
	}, nil
}

// Resource returns the canonical resource URI.
func (m *Middleware) Resource() string { return m.resource }

// ResourceMetadataURL returns the URL sent as resource_metadata.
func (m *Middleware) ResourceMetadataURL() string { return m.metadataURL }

// Authenticate extracts and verifies r's bearer token and checks its
// audience and the required Scopes. It returns an *[Error] (or an error
// matching [ErrUnavailable]) that [Middleware.WriteError] turns into the
// response. It does not touch r.
//
// A DPoP-bound token (cnf.jkt) is accepted only as "Authorization: DPoP"
// with a valid proof for this request ([Middleware.checkDPoP]); the
// proof is checked on every request, after the (possibly cached) token
// validation, since it is per request.
func (m *Middleware) Authenticate(r *http.Request) (*Principal, error) {
	token, isDPoP, err := m.credentials(r)
	if err != nil {
		return nil, err
	}
	p, err := m.verifier.Verify(r.Context(), token)
	if err != nil {
		return nil, err
	}
	if err := m.checkDPoP(r, token, isDPoP, p); err != nil {
		return nil, err
	}
	// RFC 8707 §2 / MCP "Token Handling": the token must have been issued
	// for this very resource.
	if !p.HasAudience(m.resource) {
		return nil, invalidToken("the token is not for this resource (aud)", fmt.Errorf("aud %q, resource %q", p.Audience, m.resource))
	}
	if len(m.scopes) > 0 && MissingScopes(p.Scopes, m.scopes) != nil {
		return nil, &Error{Code: InsufficientScope, Description: "the token lacks a required scope", Scopes: m.scopes}
	}
	return p, nil
}

// Wrap returns next guarded by the middleware: it has the shape
// func(http.Handler) http.Handler.
//
// A request without a valid token gets the RFC 6750 §3 response from
// [Middleware.WriteError]. Otherwise next is called with a shallow copy of
// the request whose context carries the [Principal]
// ([PrincipalFromContext]) and whose header is a copy without the
// Authorization field: the client's token goes no further than this
// middleware, so a proxy or handler downstream cannot pass it on (the MCP
// authorization specification forbids token passthrough). The caller's
// request and header map are left untouched.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := m.Authenticate(r)
		if err != nil {
			m.WriteError(w, r, err)
			return
		}
		m.NextNonce(w, p)
		r2 := r.WithContext(ContextWithPrincipal(r.Context(), p))
		r2.Header = withoutAuthorization(r.Header)
		delete(r2.Header, "Dpop")
		next.ServeHTTP(w, r2)
	})
}

// NextNonce sets a fresh DPoP-Nonce on w after a DPoP request was
// accepted, when the resource issues nonces (RFC 9449 section 9: "the
// resource server MAY supply a new nonce value ... in the DPoP-Nonce HTTP
// header" of any response), so the client's next proof need not fail
// first. A handler that calls [Middleware.Authenticate] itself calls it
// before writing the response.
func (m *Middleware) NextNonce(w http.ResponseWriter, p *Principal) {
	if m.dpop == nil || m.dpop.Nonces == nil || p == nil || p.JKT == "" {
		return
	}
	if n, err := m.dpop.Nonces.Issue(); err == nil {
		w.Header().Set("DPoP-Nonce", n)
	}
}

// withoutAuthorization copies h without the Authorization field, sharing
// the value slices of the other fields (they are not modified).
func withoutAuthorization(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, v := range h {
		// EqualFold: a hand-built header may hold a non-canonical key.
		if !strings.EqualFold(k, "Authorization") {
			out[k] = v
		}
	}
	return out
}

// WriteError writes err as the RFC 6750 §3 response for this resource (see
// the package-level [WriteError]), with this middleware's resource_metadata,
// realm and challenge scopes, and logs the refusal at Debug with its cause.
// The gateway calls it when it decides, after reading the body, that a
// tools/call needs more scopes:
//
//	m.WriteError(w, r, &resourceserver.Error{
//		Code:   resourceserver.InsufficientScope,
//		Scopes: needed, // every scope the call needs, in one challenge
//	})
func (m *Middleware) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	if m.logger.Enabled(r.Context(), slog.LevelDebug) {
		m.logger.LogAttrs(r.Context(), slog.LevelDebug, "request refused",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("error", err))
	}
	writeError(w, err, m.metadataURL, m.realm, m.challengeScopes, m.dpopChallenge)
}

// credentials returns the access token of r and whether it came with the
// DPoP scheme (RFC 9449 section 7.1) rather than Bearer (RFC 6750).
func (m *Middleware) credentials(r *http.Request) (string, bool, error) {
	if v := r.Header.Values("Authorization"); len(v) == 1 {
		tok, isDPoP, err := ParseDPoPAuthorization(v[0])
		if isDPoP {
			if err != nil {
				err.(*Error).DPoP = true
				return "", true, err
			}
			maxBytes := m.maxBytes
			if maxBytes <= 0 {
				maxBytes = DefaultMaxTokenBytes
			}
			if len(tok) > maxBytes {
				return "", true, &Error{Code: InvalidRequest, Description: "the Authorization header is too large", DPoP: true}
			}
			if r.URL != nil && r.URL.RawQuery != "" && queryHasAccessToken(r.URL.RawQuery) {
				return "", true, invalidRequest("access tokens must not be sent in the query string")
			}
			return tok, true, nil
		}
	}
	tok, err := BearerToken(r, m.maxBytes)
	return tok, false, err
}

// checkDPoP applies RFC 9449 section 7 to a validated token: a bound token
// (cnf.jkt) needs the DPoP scheme and a proof of its key for this request
// (section 7.1, section 4.3 with "ath"); a bound token sent as Bearer is
// refused (section 7.2: no downgrade, so a stolen bound token is useless
// without its key); and a resource that requires DPoP refuses Bearer.
func (m *Middleware) checkDPoP(r *http.Request, token string, isDPoP bool, p *Principal) error {
	if !isDPoP {
		switch {
		case p.JKT != "":
			return &Error{Code: InvalidToken, Description: "a DPoP-bound token must be sent with the DPoP scheme and a proof", DPoP: true}
		case m.dpop != nil && m.dpop.Required:
			return &Error{Code: InvalidToken, Description: "this resource requires a DPoP-bound token", DPoP: true}
		}
		return nil
	}
	if m.dpop == nil {
		return &Error{Code: InvalidRequest, Description: "the DPoP scheme is not supported here"}
	}
	if p.JKT == "" {
		return &Error{Code: InvalidToken, Description: "the token is not DPoP-bound", DPoP: true}
	}
	proofs := r.Header.Values("DPoP")
	if len(proofs) != 1 {
		return &Error{Code: InvalidDPoPProof, Description: "exactly one DPoP proof is required", DPoP: true}
	}
	proof, err := dpop.Parse(proofs[0], m.dpop.Algorithms)
	if err != nil {
		return &Error{Code: InvalidDPoPProof, Description: "the DPoP proof is invalid", Err: err, DPoP: true}
	}
	now := time.Now()
	if m.dpop.Now != nil {
		now = m.dpop.Now()
	}
	check := dpop.Check{
		Method: r.Method, URL: m.requestURL(r), AccessToken: token, JKT: p.JKT,
		Now: now, Window: m.dpop.Window, Replay: m.dpop.Replay,
	}
	if m.dpop.Nonces != nil {
		check.Nonce = m.dpop.Nonces.Check
	}
	err = proof.Check(r.Context(), check)
	switch {
	case errors.Is(err, dpop.ErrNonce):
		// RFC 9449 section 9: 401, the DPoP scheme's use_dpop_nonce
		// challenge, and the nonce to use in DPoP-Nonce.
		n, nerr := m.dpop.Nonces.Issue()
		if nerr != nil {
			return fmt.Errorf("%w: dpop nonce: %w", ErrUnavailable, nerr)
		}
		return &Error{Code: UseDPoPNonce, Description: "a DPoP nonce from this resource is required", Err: err, DPoP: true, Nonce: n}
	case errors.Is(err, dpop.ErrReplayUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil:
		return &Error{Code: InvalidDPoPProof, Description: "the DPoP proof does not match the request or the token", Err: err, DPoP: true}
	}
	return nil
}

// requestURL is the htu a proof must name: the configured resource's
// scheme and authority with the request's path, never rebuilt from Host
// or X-Forwarded-* headers a client controls.
func (m *Middleware) requestURL(r *http.Request) string {
	u, err := url.Parse(m.resource)
	if err != nil {
		return m.resource
	}
	if r.URL != nil && r.URL.Path != "" {
		u.Path, u.RawPath = r.URL.Path, r.URL.RawPath
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}
