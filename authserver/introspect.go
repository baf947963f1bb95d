package authserver

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// handleIntrospect is the RFC 7662 introspection endpoint. Callers must
// authenticate as confidential clients the operator registered as
// resource servers (section 2.1: "the endpoint MUST also require some form
// of authorization"); any other client is unauthorized_client, since an
// application that may read other applications' tokens learns who uses
// them (section 4, "Security Considerations"). A resource server with
// listed Resources sees only access tokens for one of them; refresh
// tokens only by the client they were issued to. Anything not active,
// malformed or not visible to the caller is {"active": false} (section
// 2.2).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
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
	if cl.public() {
		s.fail(w, r, oauth.NewError(oauth.InvalidClient, "introspection requires client authentication"))
		return
	}
	if !cl.resourceServer {
		s.fail(w, r, oauth.NewError(oauth.UnauthorizedClient, "the client is not registered as a resource server"))
		return
	}
	token := f.get("token")
	if token == "" {
		s.fail(w, r, oauth.NewError(oauth.InvalidRequest, "token is required"))
		return
	}
	inactive := oauth.IntrospectionResponse{}
	hint := f.get("token_type_hint")
	tryAccess := func() (*oauth.IntrospectionResponse, error) {
		if strings.Count(token, ".") != 2 {
			return nil, nil
		}
		c, err := s.verifyAccessToken(ctx, token)
		if errors.Is(err, errInactive) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if len(cl.resources) > 0 && !slices.ContainsFunc(cl.resources, func(r *resource) bool { return c.Aud.Contains(r.uri) }) {
			return nil, nil
		}
		resp := &oauth.IntrospectionResponse{Active: true, Scope: c.Scope, ClientID: c.ClientID, TokenType: "Bearer",
			Exp: c.Exp, Iat: c.Iat, Sub: c.Sub, Aud: c.Aud, Iss: c.Iss, Jti: c.Jti, Act: c.Act}
		if c.Cnf != nil {
			// RFC 9449 section 6.2.
			resp.TokenType, resp.Cnf = "DPoP", &oauth.Confirmation{JKT: c.Cnf.JKT}
		}
		return resp, nil
	}
	tryRefresh := func() (*oauth.IntrospectionResponse, error) {
		if len(token) > 128 {
			return nil, nil
		}
		fam, current, err := s.store.GetFamilyByToken(ctx, hashSecret(token))
		if errors.Is(err, storage.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if !current || !fam.RevokedAt.IsZero() || !s.now().Before(fam.ExpiresAt) || fam.ClientID != cl.id {
			return nil, nil
		}
		return &oauth.IntrospectionResponse{Active: true, Scope: oauth.FormatScope(fam.Scopes), ClientID: fam.ClientID,
			TokenType: "refresh_token", Exp: fam.ExpiresAt.Unix(), Iat: fam.RotatedAt.Unix(), Sub: fam.UserID,
			Aud: fam.Resources, Iss: s.issuer}, nil
	}
	order := []func() (*oauth.IntrospectionResponse, error){tryAccess, tryRefresh}
	if hint == "refresh_token" {
		order = []func() (*oauth.IntrospectionResponse, error){tryRefresh, tryAccess}
	}
	for _, try := range order {
		resp, err := try()
		if err != nil {
			s.fail(w, r, oauth.Wrap(oauth.ServerError, "internal error", err))
			return
		}
		if resp != nil {
			writeJSON(w, http.StatusOK, resp)
			return
		}
	}
	writeJSON(w, http.StatusOK, inactive)
}
