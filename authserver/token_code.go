package authserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// grantAuthorizationCode redeems an authorization code (OAuth 2.1
// section 4.1.3; RFC 6749 section 4.1.3; RFC 7636 section 4.6).
//
// The code is single use. A second redemption fails and revokes the
// tokens the first one issued ("If an authorization code is used more
// than once, the authorization server ... SHOULD revoke all tokens
// previously issued based on that authorization code", OAuth 2.1 section
// 4.1.3), including when the replay races the first redemption.
func (s *Server) grantAuthorizationCode(r *http.Request, cl *client, f form) (*oauth.TokenResponse, error) {
	ctx := r.Context()
	if err := requireGrant(cl, oauth.GrantAuthorizationCode); err != nil {
		return nil, err
	}
	code := f.get("code")
	if code == "" {
		return nil, oauth.NewError(oauth.InvalidRequest, "code is required")
	}
	verifier := f.get("code_verifier")
	if verifier == "" {
		return nil, oauth.NewError(oauth.InvalidRequest, "code_verifier is required (PKCE)")
	}
	if len(code) > 128 {
		return nil, oauth.NewError(oauth.InvalidGrant, "invalid authorization code")
	}
	if err := checkCodeBinding(code, dpopJKT(ctx)); err != nil {
		return nil, err
	}
	now := s.now()
	hash := hashSecret(code)
	ac, err := s.store.ConsumeCode(ctx, hash, now)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, oauth.NewError(oauth.InvalidGrant, "invalid authorization code")
	case errors.Is(err, storage.ErrAlreadyUsed):
		if ac.ClientID == cl.id {
			s.revokeIssued(ctx, ac.FamilyID, ac.AccessTokenID, ac.AccessExpires)
		}
		return nil, oauth.NewError(oauth.InvalidGrant, "authorization code already used")
	case err != nil:
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	switch {
	case ac.ClientID != cl.id:
		return nil, oauth.NewError(oauth.InvalidGrant, "authorization code was issued to another client")
	case !now.Before(ac.ExpiresAt):
		return nil, oauth.NewError(oauth.InvalidGrant, "authorization code expired")
	case ac.RedirectURI != "" && f.get("redirect_uri") != ac.RedirectURI:
		// OAuth 2.1 section 4.1.3: redirect_uri is required, and must be
		// identical, if the authorization request included it.
		return nil, oauth.NewError(oauth.InvalidGrant, "redirect_uri does not match the authorization request")
	case ac.RedirectURI == "" && f.get("redirect_uri") != "" && !slices.Contains(cl.meta.RedirectURIs, f.get("redirect_uri")):
		return nil, oauth.NewError(oauth.InvalidGrant, "redirect_uri does not match the authorization request")
	case !oauth.VerifyS256(verifier, ac.CodeChallenge):
		return nil, oauth.NewError(oauth.InvalidGrant, "code_verifier does not match the code_challenge")
	}
	user, err := s.store.GetUser(ctx, ac.UserID)
	if err != nil || user.Disabled {
		return nil, oauth.Wrap(oauth.InvalidGrant, "the user can no longer sign in", err)
	}
	// RFC 8707 section 2.2: the token request may narrow the audience to
	// resources the authorization request named.
	granted := s.resourcesByURI(ac.Resources)
	aud, err := narrowResources(s, f.all("resource"), granted)
	if err != nil {
		return nil, err
	}
	jti := randomID()
	exp := now.Add(s.tokenLifetime(aud))
	resp := &oauth.TokenResponse{TokenType: "Bearer"}
	var fam *storage.RefreshFamily
	if issueRefresh(cl, ac.Scopes) {
		rt := bindRefreshToken(randomToken(), cl, dpopJKT(ctx))
		fam = &storage.RefreshFamily{
			ID: randomID(), ClientID: cl.id, UserID: ac.UserID, Scopes: ac.Scopes, Resources: ac.Resources,
			AuthTime: ac.AuthTime, CreatedAt: now, ExpiresAt: now.Add(s.opts.RefreshTokenLifetime), CurrentHash: hashSecret(rt),
			RotatedAt: now, LastAccessTokenID: jti, LastAccessExpires: exp,
		}
		resp.RefreshToken = rt
	}
	// What the code issues is recorded before it is signed and sent: a
	// replay from now on finds it and revokes it; a replay that came
	// first makes this fail with nothing issued.
	switch err := s.store.IssueFromCode(ctx, hash, fam, jti, exp); {
	case errors.Is(err, storage.ErrAlreadyUsed):
		s.log.WarnContext(ctx, "authorization code replayed during redemption")
		return nil, oauth.NewError(oauth.InvalidGrant, "authorization code already used")
	case err != nil:
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	var grantID string
	if fam != nil {
		grantID = fam.ID
	}
	token, scope, _, err := s.issueAccessToken(ctx, tokenRequest{subject: ac.UserID, clientID: cl.id, aud: aud,
		scopes: ac.Scopes, groups: user.Groups, authTime: ac.AuthTime, jti: jti, notAfter: exp, grantID: grantID})
	if err != nil {
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	resp.AccessToken = token
	resp.ExpiresIn = int64(exp.Sub(now).Round(time.Second) / time.Second)
	resp.Scope = oauth.FormatScope(responseScope(scope, ac.Scopes, resp.RefreshToken != ""))
	if slices.Contains(ac.Scopes, scopeOpenID) {
		if resp.IDToken, err = s.issueIDToken(ctx, user, cl.id, ac, token, exp); err != nil {
			return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
		}
	}
	return resp, nil
}

// revokeIssued revokes what a replayed code issued: its refresh family
// and every access token issued from it, and the first access token.
// Failures are logged: the replayer already gets an error.
func (s *Server) revokeIssued(ctx context.Context, familyID, jti string, exp time.Time) {
	if familyID != "" {
		if err := s.store.RevokeFamily(ctx, familyID, s.now()); err != nil {
			s.log.ErrorContext(ctx, "revoking tokens of a replayed code failed", "error", err.Error())
		}
	}
	if err := s.familyRevoked(ctx, familyID, jti, exp); err != nil {
		s.log.ErrorContext(ctx, "revoking the access tokens of a replayed code failed", "error", err.Error())
	}
	s.log.WarnContext(ctx, "authorization code replayed; tokens it issued are revoked")
}

// responseScope is the scope of a token response (RFC 6749 section 5.1):
// the access token's, plus offline_access when it was granted and a
// refresh token is in the response, so the client reads what it got.
func responseScope(access, granted []string, refresh bool) []string {
	if refresh && slices.Contains(granted, scopeOfflineAccess) {
		return append(slices.Clone(access), scopeOfflineAccess)
	}
	return access
}

// issueRefresh: a refresh token goes to clients registered for the
// refresh_token grant, or that asked for offline_access.
func issueRefresh(cl *client, scopes []string) bool {
	return cl.allows(oauth.GrantRefreshToken) || slices.Contains(scopes, scopeOfflineAccess)
}

// narrowResources applies a token request's "resource" values (RFC 8707
// section 2.2): each must be among the granted resources; none means all
// of them.
func narrowResources(s *Server, values []string, granted []*resource) ([]*resource, error) {
	if len(values) == 0 {
		if len(granted) == 0 {
			return nil, oauth.NewError(oauth.InvalidTarget, "no resource was granted")
		}
		return granted, nil
	}
	var out []*resource
	for _, v := range values {
		r, err := s.findResource(v)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(granted, r) {
			return nil, oauth.NewError(oauth.InvalidTarget, "resource was not part of the grant")
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}
