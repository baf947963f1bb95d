package resourceserver

import (
	"context"
	"strconv"
	"time"
)

// Principal is who a validated access token speaks for: everything
// downstream of the middleware (scope checks, session binding, rate limits,
// audit) keys on it.
//
// A Principal is shared between requests (the [Cache] hands out the same
// value for every request with the same token) and must be treated as
// read-only.
type Principal struct {
	// Issuer is the "iss" of the token (RFC 9068 §2.2), exactly as the
	// trusted issuer is configured.
	Issuer string
	// Subject is "sub": the resource owner, or the client itself for
	// client-credentials tokens. It may be empty for introspected tokens
	// that carry only a client_id.
	Subject string
	// ClientID is "client_id" (RFC 9068 §2.2, RFC 7662 §2.2), or "azp"
	// when the issuer uses that instead.
	ClientID string
	// Scopes are the granted scopes ("scope", or "scp").
	Scopes []string
	// Groups are the user's groups, read from the verifier's groups claim
	// ([DefaultGroupsClaim] unless configured): a string or an array of
	// strings. Nil when the token has none.
	Groups []string
	// Claims holds the values of the further claims the verifier was
	// configured to read, by configured name (see [ClaimValues]). A claim
	// the token lacks is absent.
	Claims map[string][]string
	// Audience is "aud": the resources the token is for.
	Audience []string
	// Expiry is "exp"; zero when the introspection response had none.
	Expiry time.Time
	// IssuedAt is "iat"; zero when absent.
	IssuedAt time.Time
	// TokenID is "jti"; empty when absent.
	TokenID string
	// GrantID is "sid": the grant (a refresh-token family, a sign-in)
	// the token was issued from, so that revoking the grant revokes every
	// access token issued from it. Empty when absent.
	GrantID string
	// JKT is "cnf.jkt" (RFC 9449 section 6): the thumbprint of the key the
	// token is bound to. A token with JKT is usable only with a DPoP proof
	// signed by that key. Empty for an unbound token.
	JKT string
}

// HasScope reports whether the granted scopes satisfy required under the
// hierarchy rule of [Satisfies].
func (p *Principal) HasScope(required string) bool { return SatisfiedBy(p.Scopes, required) }

// HasAudience reports whether aud is one of the token's audiences (exact
// string comparison, RFC 7519 §4.1.3).
func (p *Principal) HasAudience(aud string) bool { return contains(p.Audience, aud) }

// Identity returns a string that identifies the party acting with the
// token: issuer, subject and client together, unambiguously encoded. Bind
// sessions and other per-principal state to it: two tokens share an
// Identity only if the same issuer issued them to the same client for the
// same subject.
func (p *Principal) Identity() string {
	b := make([]byte, 0, len(p.Issuer)+len(p.Subject)+len(p.ClientID)+8)
	b = strconv.AppendQuote(b, p.Issuer)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, p.Subject)
	b = append(b, ' ')
	b = strconv.AppendQuote(b, p.ClientID)
	return string(b)
}

type principalKey struct{}

// ContextWithPrincipal returns a copy of ctx carrying p.
func ContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the Principal the middleware stored in ctx,
// or nil.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Verifier validates an access token and returns its Principal.
//
// Errors: an *[Error] with code [InvalidToken] (matching [ErrInvalidToken])
// when the token is not acceptable; an error matching [ErrUnavailable] when
// the token could not be judged (issuer metadata, JWKS or introspection
// unreachable). Implementations must be safe for concurrent use, must not
// log the token and must not keep it except as a hash.
//
// A Verifier checks that the audience is one of those it was configured
// with; the [Middleware] additionally checks its own resource, so one
// verifier can serve several resources.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Principal, error)
}
