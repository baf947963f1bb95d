package resourceserver

import (
	"context"
	"errors"
	"fmt"
)

// IssuerVerifier is a Verifier for the tokens of one issuer.
type IssuerVerifier interface {
	Verifier
	// Issuer returns the issuer identifier, exactly as tokens carry it.
	Issuer() string
}

// MultiOptions configures a [Multi].
type MultiOptions struct {
	// Issuers are the trusted issuers. A JWT is routed, by its "iss"
	// claim, to the one verifier whose Issuer() is identical; a JWT from
	// any other issuer is invalid_token without further work. Issuers must
	// be distinct.
	Issuers []IssuerVerifier
	// Opaque verifies tokens that are not JWTs (typically an
	// [IntrospectionVerifier]). If nil, such tokens are invalid_token.
	Opaque Verifier
	// MaxTokenBytes bounds the token size. If zero, [DefaultMaxTokenBytes].
	MaxTokenBytes int
}

// Multi trusts several issuers at once: the embedded authorization server
// and external ones side by side.
//
// Routing reads the unverified "iss" of a JWT only to pick the verifier;
// that verifier then checks everything, "iss" included. A token is never
// shown to an issuer other than the one it names: a JWT is not sent to an
// introspection endpoint unless that [IntrospectionVerifier] is listed in
// Issuers for the JWT's issuer.
type Multi struct {
	byIssuer map[string]IssuerVerifier
	opaque   Verifier
	maxBytes int
}

var _ Verifier = (*Multi)(nil)

// NewMulti returns a Multi for opts.
func NewMulti(opts MultiOptions) (*Multi, error) {
	if len(opts.Issuers) == 0 && opts.Opaque == nil {
		return nil, errors.New("resourceserver: MultiOptions needs at least one issuer or an opaque-token verifier")
	}
	m := &Multi{byIssuer: make(map[string]IssuerVerifier), opaque: opts.Opaque, maxBytes: opts.MaxTokenBytes}
	for _, v := range opts.Issuers {
		if v == nil {
			return nil, errors.New("resourceserver: MultiOptions.Issuers holds a nil verifier")
		}
		iss := v.Issuer()
		if iss == "" {
			return nil, errors.New("resourceserver: MultiOptions.Issuers holds a verifier without an issuer")
		}
		if _, dup := m.byIssuer[iss]; dup {
			return nil, fmt.Errorf("resourceserver: MultiOptions.Issuers: issuer %q appears twice", iss)
		}
		m.byIssuer[iss] = v
	}
	return m, nil
}

// Verify routes token to the verifier of its issuer.
func (m *Multi) Verify(ctx context.Context, token string) (*Principal, error) {
	p, err := parseJWT(token, m.maxBytes)
	if errors.Is(err, errNotJWT) {
		if m.opaque == nil {
			return nil, invalidToken("the access token is not a JWT from a trusted issuer", nil)
		}
		return m.opaque.Verify(ctx, token)
	}
	if err != nil {
		return nil, invalidToken("the access token is malformed", err)
	}
	v, ok := m.byIssuer[p.claims.iss]
	if !ok {
		return nil, invalidToken("the token's issuer is not trusted", fmt.Errorf("iss %q", p.claims.iss))
	}
	if jv, ok := v.(*JWTVerifier); ok {
		// Already parsed: skip the second parse.
		return jv.verifyParsed(ctx, token, p)
	}
	return v.Verify(ctx, token)
}
