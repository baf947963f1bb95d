package authserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/mcpfort/mcpfort/oauth"
)

// handleToken is the token endpoint (OAuth 2.1 section 3.2; RFC 6749
// section 3.2). The client is authenticated first, so an unauthenticated
// caller learns nothing about codes or tokens; then the grant runs.
// Responses are never cached (RFC 6749 section 5.1) and errors are the
// typed RFC 6749 section 5.2 errors.
//
// A request with a valid DPoP proof (RFC 9449 section 5) gets a token of
// type DPoP bound to the proof's key; a client registered with
// dpop_bound_access_tokens must send one (section 5.2). With nonces
// required, a use_dpop_nonce error and every success carry a fresh
// DPoP-Nonce (sections 8, 8.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	f, err := readForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	grant := f.get("grant_type")
	if grant == "" {
		s.fail(w, r, oauth.NewError(oauth.InvalidRequest, "grant_type is required"))
		return
	}
	cl, err := s.authenticateClient(r.Context(), r, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	jkt, err := s.tokenEndpointDPoP(r)
	if err != nil {
		s.failDPoP(w, r, err)
		return
	}
	if jkt == "" && cl.meta.DPoPBoundAccessTokens {
		// RFC 9449 section 5.2: a client registered with
		// dpop_bound_access_tokens gets only bound tokens.
		s.fail(w, r, oauth.NewError(oauthInvalidDPoPProof, "this client is registered for DPoP-bound tokens: a DPoP proof is required"))
		return
	}
	if jkt != "" {
		r = r.WithContext(context.WithValue(r.Context(), dpopKey{}, jkt))
	}
	var resp *oauth.TokenResponse
	switch grant {
	case oauth.GrantAuthorizationCode:
		resp, err = s.grantAuthorizationCode(r, cl, f)
	case oauth.GrantRefreshToken:
		resp, err = s.grantRefreshToken(r, cl, f)
	case oauth.GrantClientCredentials:
		resp, err = s.grantClientCredentials(r, cl, f)
	case oauth.GrantTokenExchange:
		resp, err = s.grantTokenExchange(r, cl, f)
	case oauth.GrantJWTBearer:
		resp, err = s.grantJWTBearer(r, cl, f)
	default:
		err = oauth.NewError(oauth.UnsupportedGrantType, "unsupported grant_type")
	}
	if err != nil {
		s.failDPoP(w, r, err)
		return
	}
	if jkt != "" && resp.TokenType == "Bearer" {
		// RFC 9449 section 5: the access token is bound (cnf.jkt).
		resp.TokenType = "DPoP"
	}
	if jkt != "" && s.opts.DPoP.RequireNonce {
		// RFC 9449 section 8.2: a fresh nonce with every response, so
		// the client's next proof need not fail first.
		if n, err := s.dpopNonce(); err == nil {
			w.Header().Set("DPoP-Nonce", n)
		}
	}
	s.touchClient(r.Context(), cl)
	writeJSON(w, http.StatusOK, resp)
}

// requireGrant checks that the client registered the grant type
// (RFC 6749 section 5.2 unauthorized_client).
func requireGrant(cl *client, grant string) error {
	if !cl.allows(grant) {
		return oauth.NewError(oauth.UnauthorizedClient, "the client is not allowed to use this grant type")
	}
	return nil
}

// failDPoP is fail, adding a fresh DPoP-Nonce to a use_dpop_nonce error
// (RFC 9449 section 8).
func (s *Server) failDPoP(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, &oauth.Error{Code: oauthUseDPoPNonce}) {
		n, nerr := s.dpopNonce()
		if nerr != nil {
			s.fail(w, r, oauth.Wrap(oauth.ServerError, "internal error", nerr))
			return
		}
		w.Header().Set("DPoP-Nonce", n)
	}
	s.fail(w, r, err)
}
