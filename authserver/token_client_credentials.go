package authserver

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
)

// grantClientCredentials issues a token to a confidential client acting on
// its own behalf (OAuth 2.1 section 4.2; RFC 6749 section 4.4; the MCP
// client-credentials extension). The token's subject is the client
// (RFC 9068 section 2.2). No refresh token is issued (RFC 6749 section
// 4.4.3).
//
// No user takes part, so nobody consents: only clients the operator
// registered may use this grant, and only for the resources and scopes
// the operator listed for them. Dynamically registered and metadata
// document clients are unauthorized_client (RFC 6749 section 5.2: "The
// authenticated client is not authorized to use this authorization grant
// type"), whatever their metadata says.
func (s *Server) grantClientCredentials(r *http.Request, cl *client, f form) (*oauth.TokenResponse, error) {
	if cl.public() {
		return nil, oauth.NewError(oauth.UnauthorizedClient, "public clients cannot use client_credentials")
	}
	if cl.kind != kindStatic {
		return nil, oauth.NewError(oauth.UnauthorizedClient, "client_credentials is available to operator-registered clients only")
	}
	if err := requireGrant(cl, oauth.GrantClientCredentials); err != nil {
		return nil, err
	}
	aud, err := s.clientResources(cl, f.all("resource"))
	if err != nil {
		return nil, err
	}
	req, err := oauth.ParseScope(f.get("scope"))
	if err != nil {
		return nil, err
	}
	// The client's listed scopes that the audience understands; a request
	// narrows them. Scopes the audience does not define are ignored (RFC
	// 6749 section 3.3); one it defines but the client may not have is
	// invalid_scope, so a misconfigured machine client learns why.
	scopes := tokenScopes(cl.scopes, aud)
	if len(req) > 0 {
		for _, sc := range req {
			if definedBy(aud, sc) && !slices.Contains(scopes, sc) {
				return nil, oauth.NewError(oauth.InvalidScope, "scope "+strconv.Quote(sc)+" is not allowed for this client")
			}
		}
		scopes = slices.DeleteFunc(scopes, func(sc string) bool { return !slices.Contains(req, sc) })
	}
	now := s.now()
	token, scope, exp, err := s.issueAccessToken(r.Context(), tokenRequest{subject: cl.id, clientID: cl.id, aud: aud, scopes: scopes})
	if err != nil {
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	return &oauth.TokenResponse{AccessToken: token, TokenType: "Bearer",
		ExpiresIn: int64(exp.Sub(now).Round(time.Second) / time.Second), Scope: oauth.FormatScope(scope)}, nil
}

// clientResources resolves the "resource" values of a machine client's
// request (RFC 8707 section 2) against the resources the operator listed
// for it: each must be listed; none means all of its listed resources
// that are not exchange-only.
func (s *Server) clientResources(cl *client, values []string) ([]*resource, error) {
	if len(values) == 0 {
		out := slices.DeleteFunc(slices.Clone(cl.resources), func(r *resource) bool { return r.exchangeOnly })
		if len(out) == 0 {
			return nil, oauth.NewError(oauth.InvalidTarget, "the client may not obtain tokens for any resource")
		}
		return out, nil
	}
	out, err := s.resolveResources(values)
	if err != nil {
		return nil, err
	}
	for _, r := range out {
		if !slices.Contains(cl.resources, r) {
			return nil, oauth.NewError(oauth.InvalidTarget, "the client may not obtain tokens for this resource")
		}
	}
	return out, nil
}
