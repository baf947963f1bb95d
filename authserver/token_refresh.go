package authserver

import (
	"errors"
	"net/http"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// grantRefreshToken exchanges a refresh token (OAuth 2.1 section 4.3;
// RFC 6749 section 6). Every use rotates the token: the response carries a
// new refresh token and the presented one dies. Presenting a token the
// family already rotated away from means two parties hold the chain, so
// the whole family is revoked (OAuth 2.1 section 4.3.1, refresh token
// rotation with reuse detection). "scope" may only narrow (RFC 6749
// section 6) and "resource" may only pick granted resources (RFC 8707
// section 2.2). The family's absolute lifetime is not extended. Reuse
// revokes the family's access tokens too (its "sid"), at resource servers
// through Options.Revoker.
func (s *Server) grantRefreshToken(r *http.Request, cl *client, f form) (*oauth.TokenResponse, error) {
	ctx := r.Context()
	if err := requireGrant(cl, oauth.GrantRefreshToken); err != nil && !s.familyMayRefresh(cl) {
		return nil, err
	}
	old := f.get("refresh_token")
	if old == "" {
		return nil, oauth.NewError(oauth.InvalidRequest, "refresh_token is required")
	}
	if len(old) > 128 {
		return nil, oauth.NewError(oauth.InvalidGrant, "invalid refresh token")
	}
	// RFC 9449 section 5: a bound refresh token needs a proof of its key,
	// checked before the rotation so that a thief cannot burn the family.
	if err := checkRefreshBinding(old, dpopJKT(ctx)); err != nil {
		return nil, err
	}
	// Scope and resource checks need the family, which the rotation
	// returns; validate the syntax first so a malformed request does not
	// cost the client its token.
	reqScopes, err := oauth.ParseScope(f.get("scope"))
	if err != nil {
		return nil, err
	}
	for _, v := range f.all("resource") {
		if _, err := s.findResource(v); err != nil {
			return nil, err
		}
	}
	fam, _, err := s.store.GetFamilyByToken(ctx, hashSecret(old))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, oauth.NewError(oauth.InvalidGrant, "invalid refresh token")
	case err != nil:
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	case fam.ClientID != cl.id:
		return nil, oauth.NewError(oauth.InvalidGrant, "invalid refresh token")
	}
	if !containsAll(fam.Scopes, reqScopes) {
		return nil, oauth.NewError(oauth.InvalidScope, "scope exceeds the original grant")
	}
	aud, err := narrowResources(s, f.all("resource"), s.resourcesByURI(fam.Resources))
	if err != nil {
		return nil, err
	}
	now := s.now()
	jti := randomID()
	// The new token keeps the binding (a public client's first bound
	// token binds the whole family).
	next := randomToken()
	if jkt := refreshTokenJKT(old); jkt != "" {
		next += refreshJKTSeparator + jkt
	} else {
		next = bindRefreshToken(next, cl, dpopJKT(ctx))
	}
	fam, err = s.store.RotateRefreshToken(ctx, storage.Rotation{
		OldHash: hashSecret(old), NewHash: hashSecret(next), ClientID: cl.id,
		AccessTokenID: jti, AccessExpires: now.Add(s.tokenLifetime(aud)), At: now,
	})
	switch {
	case errors.Is(err, storage.ErrReused):
		s.log.WarnContext(ctx, "refresh token reused; family revoked", "client_id", cl.id, "family", fam.ID)
		if derr := s.familyRevoked(ctx, fam.ID, fam.LastAccessTokenID, fam.LastAccessExpires); derr != nil {
			s.log.ErrorContext(ctx, "revoking the access tokens of a reused family failed", "error", derr.Error())
		}
		return nil, oauth.NewError(oauth.InvalidGrant, "refresh token already used")
	case errors.Is(err, storage.ErrRevoked):
		return nil, oauth.NewError(oauth.InvalidGrant, "refresh token revoked")
	case errors.Is(err, storage.ErrExpired):
		return nil, oauth.NewError(oauth.InvalidGrant, "refresh token expired")
	case errors.Is(err, storage.ErrNotFound):
		return nil, oauth.NewError(oauth.InvalidGrant, "invalid refresh token")
	case err != nil:
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	user, err := s.store.GetUser(ctx, fam.UserID)
	if err != nil || user.Disabled {
		if rerr := s.revokeFamily(ctx, fam); rerr != nil {
			s.log.ErrorContext(ctx, "revoking family of a disabled user failed", "error", rerr.Error())
		}
		return nil, oauth.Wrap(oauth.InvalidGrant, "the user can no longer sign in", err)
	}
	scopes := fam.Scopes
	if len(reqScopes) > 0 {
		scopes = reqScopes
	}
	// The user's groups may have changed since the sign-in: a refreshed
	// token carries no scope the user may no longer hold.
	if scopes, err = userScopes(user, aud, scopes); err != nil {
		return nil, oauth.Wrap(oauth.InvalidGrant, "the user may no longer use the resource", err)
	}
	token, scope, exp, err := s.issueAccessToken(ctx, tokenRequest{subject: fam.UserID, clientID: cl.id, aud: aud,
		scopes: scopes, groups: user.Groups, authTime: fam.AuthTime, jti: jti, grantID: fam.ID})
	if err != nil {
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	return &oauth.TokenResponse{
		AccessToken: token, TokenType: "Bearer", ExpiresIn: int64(exp.Sub(now).Round(time.Second) / time.Second),
		RefreshToken: next, Scope: oauth.FormatScope(responseScope(scope, scopes, true)),
	}, nil
}

// familyMayRefresh: a client that got a refresh token through
// offline_access without registering the refresh_token grant may use it.
func (s *Server) familyMayRefresh(cl *client) bool {
	return cl.allows(oauth.GrantAuthorizationCode)
}
