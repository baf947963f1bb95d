package authserver

import (
	"net/http"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
)

// grantClientCredentials issues a token to a confidential client acting on
// its own behalf (OAuth 2.1 section 4.2; RFC 6749 section 4.4; the MCP
// client-credentials extension). The token's subject is the client
// (RFC 9068 section 2.2). No refresh token is issued (RFC 6749 section
// 4.4.3).
func (s *Server) grantClientCredentials(r *http.Request, cl *client, f form) (*oauth.TokenResponse, error) {
	if cl.public() {
		return nil, oauth.NewError(oauth.UnauthorizedClient, "public clients cannot use client_credentials")
	}
	if err := requireGrant(cl, oauth.GrantClientCredentials); err != nil {
		return nil, err
	}
	aud, err := s.resolveResources(f.all("resource"))
	if err != nil {
		return nil, err
	}
	scopes, err := resolveScopes(f.get("scope"), aud)
	if err != nil {
		return nil, err
	}
	if cl.meta.Scope != "" {
		// A client registered with a scope may not exceed it.
		allowed, _ := oauth.ParseScope(cl.meta.Scope)
		if !containsAll(allowed, scopes) {
			return nil, oauth.NewError(oauth.InvalidScope, "scope exceeds what the client is registered for")
		}
	}
	now := s.now()
	token, scope, exp, err := s.issueAccessToken(r.Context(), tokenRequest{subject: cl.id, clientID: cl.id, aud: aud, scopes: scopes})
	if err != nil {
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	return &oauth.TokenResponse{AccessToken: token, TokenType: "Bearer",
		ExpiresIn: int64(exp.Sub(now).Round(time.Second) / time.Second), Scope: oauth.FormatScope(scope)}, nil
}
