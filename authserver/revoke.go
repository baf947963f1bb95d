package authserver

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// handleRevoke is the RFC 7009 revocation endpoint. The client
// authenticates as at the token endpoint (public clients send client_id,
// section 2.1). Revoking a refresh token revokes its whole family and the
// newest access token issued from it (section 2.1: "the authorization
// server SHOULD also invalidate all access tokens based on the same
// authorization grant"); revoking an access token denies its jti until it
// expires. Only tokens issued to the calling client are revoked, and the
// answer is 200 whether or not the token was valid (section 2.2), so the
// endpoint reveals nothing.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f, err := readForm(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cl, err := s.authenticateClient(ctx, r, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	token := f.get("token")
	if token == "" {
		s.fail(w, r, oauth.NewError(oauth.InvalidRequest, "token is required"))
		return
	}
	if strings.Count(token, ".") == 2 {
		c, err := s.verifyAccessToken(ctx, token)
		if err == nil && c.ClientID == cl.id {
			err = s.denyAccessToken(ctx, c.Jti, time.Unix(c.Exp, 0))
		}
		if err != nil && !errors.Is(err, errInactive) {
			s.fail(w, r, oauth.Wrap(oauth.ServerError, "internal error", err))
			return
		}
	} else if len(token) <= 128 {
		fam, _, err := s.store.GetFamilyByToken(ctx, hashSecret(token))
		if err == nil && fam.ClientID == cl.id {
			err = s.revokeFamily(ctx, fam)
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			s.fail(w, r, oauth.Wrap(oauth.ServerError, "internal error", err))
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}
