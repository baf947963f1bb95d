package authserver

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// typIDJAG is the JWT "typ" of an identity assertion JWT authorization
// grant (draft-ietf-oauth-identity-assertion-authz-grant, "ID-JAG").
const typIDJAG = "oauth-id-jag+jwt"

// maxIDJAGBytes bounds the assertion parameter.
const maxIDJAGBytes = 8192

// grantJWTBearer implements the JWT bearer grant (RFC 7523 section 2.1)
// for identity assertion JWT authorization grants, the MCP
// enterprise-managed authorization extension: the user signed in at the
// enterprise's identity provider, the client exchanged that ID token there
// for an ID-JAG naming this server ("aud"), an MCP resource ("resource")
// and the client ("client_id"), and presents it here. No consent page is
// shown: the identity provider's policy decided.
//
// Checks (draft sections "ID-JAG" and "Processing Rules"; RFC 7523
// section 3; the MCP extension's security considerations):
//   - confidential clients only, authenticated, registered for the grant,
//     and the "client_id" claim names that very client;
//   - "typ" oauth-id-jag+jwt, an asymmetric "alg", a signature by a
//     configured identity provider's published keys ("iss"); this server
//     never accepts its own assertions;
//   - "aud" is this server's issuer, "resource", when present, is one of
//     its resources (and equals the request's "resource"), "sub", "jti",
//     "exp" and "iat" are present, the assertion is unexpired, was not
//     issued in the future and lives at most 10 minutes;
//   - "jti" is used once per identity provider (remembered in the store
//     until the assertion expires, so every replica refuses a replay);
//   - the scopes are the requested ones (or the assertion's), narrowed to
//     the assertion's "scope", to the resource's scopes, and to what the
//     user may hold there (groups of a linked local user; none beyond
//     the base scopes otherwise).
//
// The access token is audience-restricted to the resource; no refresh
// token is issued. Failures of the assertion are invalid_grant.
func (s *Server) grantJWTBearer(r *http.Request, cl *client, f form) (*oauth.TokenResponse, error) {
	ctx := r.Context()
	if len(s.opts.IdentityProviders) == 0 {
		return nil, oauth.NewError(oauth.UnsupportedGrantType, "unsupported grant_type")
	}
	if cl.public() {
		return nil, oauth.NewError(oauth.UnauthorizedClient, "public clients cannot use identity assertion grants")
	}
	if err := requireGrant(cl, oauth.GrantJWTBearer); err != nil {
		return nil, err
	}
	assertion := f.get("assertion")
	switch {
	case assertion == "":
		return nil, oauth.NewError(oauth.InvalidRequest, "assertion is required")
	case len(assertion) > maxIDJAGBytes:
		return nil, oauth.NewError(oauth.InvalidGrant, "assertion is too large")
	}
	bad := func(desc string, cause error) error { return oauth.Wrap(oauth.InvalidGrant, desc, cause) }
	if err := base64url.CompactJWS(assertion); err != nil {
		return nil, bad("assertion is not a signed JWT", err)
	}
	jws, err := jose.ParseSignedCompact(assertion, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, bad("assertion is not a signed JWT", err)
	}
	if typ, _ := jws.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, typIDJAG) {
		return nil, bad("assertion is not an identity assertion JWT authorization grant (typ)", nil)
	}
	var peek struct {
		Iss string `json:"iss"`
	}
	if err := decodeClaims(jws.UnsafePayloadWithoutVerification(), &peek); err != nil {
		return nil, bad("assertion claims are invalid", err)
	}
	if peek.Iss == s.issuer {
		return nil, bad("this server does not accept its own assertions", nil)
	}
	_, payload, err := s.idps.verifySignature(ctx, jws, peek.Iss)
	if err != nil {
		return nil, bad("assertion is not from a trusted identity provider", err)
	}
	var c struct {
		Iss      string         `json:"iss"`
		Sub      string         `json:"sub"`
		Aud      oauth.Audience `json:"aud"`
		ClientID string         `json:"client_id"`
		Jti      string         `json:"jti"`
		Exp      *int64         `json:"exp"`
		Iat      *int64         `json:"iat"`
		Resource oauth.Audience `json:"resource"`
		Scope    string         `json:"scope"`
		AuthTime int64          `json:"auth_time"`
	}
	if err := decodeClaims(payload, &c); err != nil {
		return nil, bad("assertion claims are invalid", err)
	}
	now := s.now()
	switch {
	case c.Iss != peek.Iss || c.Sub == "" || len(c.Sub) > 255:
		return nil, bad("assertion iss or sub is invalid", nil)
	case len(c.Aud) != 1 || c.Aud[0] != s.issuer:
		return nil, bad("assertion audience is not this authorization server", nil)
	case c.ClientID == "" || c.ClientID != cl.id:
		return nil, bad("assertion was issued to another client", nil)
	case c.Jti == "" || len(c.Jti) > 256:
		return nil, bad("assertion needs a jti", nil)
	case c.Exp == nil || !now.Before(time.Unix(*c.Exp, 0)):
		return nil, bad("assertion expired", nil)
	case c.Iat == nil || time.Unix(*c.Iat, 0).After(now.Add(time.Minute)):
		return nil, bad("assertion iat is missing or in the future", nil)
	case time.Unix(*c.Exp, 0).Sub(time.Unix(*c.Iat, 0)) > maxAssertionLifetime:
		return nil, bad("assertion lifetime too long", nil)
	case len(c.Resource) > 1:
		return nil, bad("assertion names more than one resource", nil)
	}
	// The resource: the assertion's, which a request "resource" must
	// repeat (the pair aud/resource is validated together); without one
	// in the assertion, the request's, or the default resource.
	want := f.all("resource")
	var res *resource
	switch {
	case len(c.Resource) == 1:
		if len(want) > 1 || len(want) == 1 && want[0] != c.Resource[0] {
			return nil, oauth.NewError(oauth.InvalidTarget, "resource does not match the assertion's resource")
		}
		if res, err = s.findResource(c.Resource[0]); err != nil {
			return nil, bad("assertion resource is not a resource of this server", err)
		}
	default:
		rs, err := s.resolveResources(want)
		if err != nil {
			return nil, err
		}
		if len(rs) != 1 {
			return nil, oauth.NewError(oauth.InvalidTarget, "exactly one resource is required")
		}
		res = rs[0]
	}
	if res.exchangeOnly {
		return nil, oauth.NewError(oauth.InvalidTarget, "the resource is not available to clients")
	}
	granted, err := oauth.ParseScope(c.Scope)
	if err != nil {
		return nil, bad("assertion scope is invalid", err)
	}
	req, err := oauth.ParseScope(f.get("scope"))
	if err != nil {
		return nil, err
	}
	scopes := granted
	if len(req) > 0 {
		// Intersection, never more than the identity provider granted.
		scopes = slices.DeleteFunc(slices.Clone(req), func(sc string) bool { return !slices.Contains(granted, sc) })
	}
	scopes = slices.DeleteFunc(scopes, func(sc string) bool { return sc == scopeOfflineAccess || userinfoScope(sc) })

	user, sub, err := s.assertedUser(r, c.Iss, c.Sub)
	if err != nil {
		return nil, err
	}
	if scopes, err = userScopes(user, []*resource{res}, scopes); err != nil {
		return nil, err
	}
	if len(tokenScopes(scopes, []*resource{res})) == 0 && len(res.scopes) > 0 {
		return nil, oauth.NewError(oauth.InvalidScope, "none of the granted scopes applies to the resource")
	}
	// Replay, last: a rejected assertion may still be corrected.
	err = s.store.UseOnce(ctx, "idjag|"+c.Iss+"|"+c.Jti, time.Unix(*c.Exp, 0).Add(time.Minute))
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return nil, bad("assertion replayed", nil)
	}
	if err != nil {
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	tr := tokenRequest{subject: sub, clientID: cl.id, aud: []*resource{res}, scopes: scopes, groups: user.Groups}
	if c.AuthTime != 0 {
		tr.authTime = time.Unix(c.AuthTime, 0)
	}
	token, scope, exp, err := s.issueAccessToken(ctx, tr)
	if err != nil {
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	return &oauth.TokenResponse{AccessToken: token, TokenType: "Bearer", IssuedTokenType: oauth.TokenTypeAccessToken,
		ExpiresIn: int64(exp.Sub(now).Round(time.Second) / time.Second), Scope: oauth.FormatScope(scope)}, nil
}

// assertedUser maps the identity provider's (issuer, subject) to this
// server's subject (see externalSubject): the linked local user, whose
// groups count, or a derived subject with no groups. A disabled user is
// invalid_grant.
func (s *Server) assertedUser(r *http.Request, iss, sub string) (*storage.User, string, error) {
	u, id, err := s.externalUser(r.Context(), iss, sub)
	switch {
	case errors.Is(err, errUserDisabled):
		return nil, "", oauth.NewError(oauth.InvalidGrant, "the user is disabled")
	case err != nil:
		return nil, "", oauth.Wrap(oauth.ServerError, "internal error", err)
	case u == nil:
		u = &storage.User{ID: id} // derived: no groups
	}
	return u, id, nil
}
