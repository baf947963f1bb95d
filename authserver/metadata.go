package authserver

import (
	"net/http"

	"github.com/mcpfort/mcpfort/oauth"
)

// serverMetadata is the RFC 8414 section 2 document, advertising only what
// is implemented: the code flow with PKCE S256, RFC 9207 "iss", client ID
// metadata documents, and the endpoints that exist.
func (s *Server) serverMetadata() oauth.ServerMetadata {
	u := func(p string) string { return s.origin + p }
	authMethods := []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT, oauth.AuthNone}
	confidential := []string{oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost, oauth.AuthPrivateKeyJWT}
	var scopes []string
	for _, r := range s.resources {
		if !r.exchangeOnly {
			scopes = union(scopes, r.scopes)
		}
	}
	scopes = union(scopes, []string{scopeOpenID, scopeProfile, scopeEmail, scopeOfflineAccess})
	alg := s.opts.SigningAlgorithm
	if alg == "" {
		alg = "ES256"
	}
	algs := make([]string, 0, len(assertionAlgs))
	for _, a := range assertionAlgs {
		algs = append(algs, string(a))
	}
	m := oauth.ServerMetadata{
		Issuer:                            s.issuer,
		AuthorizationEndpoint:             u(s.endpoints.authorize),
		TokenEndpoint:                     u(s.endpoints.token),
		JWKSURI:                           u(s.endpoints.jwks),
		ScopesSupported:                   scopes,
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantClientCredentials, oauth.GrantTokenExchange},
		TokenEndpointAuthMethodsSupported: authMethods,
		TokenEndpointAuthSigningAlgValuesSupported: algs,
		RevocationEndpoint:                         u(s.endpoints.revoke),
		RevocationEndpointAuthMethodsSupported:     authMethods,
		IntrospectionEndpoint:                      u(s.endpoints.introspect),
		IntrospectionEndpointAuthMethodsSupported:  confidential,
		CodeChallengeMethodsSupported:              []string{oauth.CodeChallengeMethodS256},
		AuthorizationResponseISSParameterSupported: true,
		ClientIDMetadataDocumentSupported:          !s.opts.CIMD.Disable,
		// OpenID Connect Discovery 1.0 section 3: the ID tokens and the
		// UserInfo endpoint of the openid scope.
		UserinfoEndpoint:                 u(s.endpoints.userinfo),
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{alg},
		ClaimsSupported:                  []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "preferred_username", "email"},
		// RFC 9449 section 5.1: DPoP proofs are accepted at the token
		// endpoint.
		DPoPSigningAlgValuesSupported: dpopSigningAlgs,
	}
	if !s.opts.Registration.Disable {
		m.RegistrationEndpoint = u(s.endpoints.register)
	}
	if len(s.opts.IdentityProviders) > 0 {
		// Enterprise-managed authorization: the JWT bearer grant with
		// the ID-JAG profile.
		m.GrantTypesSupported = append(m.GrantTypesSupported, oauth.GrantJWTBearer)
		m.AuthorizationGrantProfilesSupported = []string{oauth.GrantProfileIDJAG}
	}
	return m
}

// handleMetadata serves the authorization server metadata (RFC 8414
// section 3) at the RFC 8414 well-known location and at the OpenID Connect
// Discovery 1.0 locations MCP clients also probe (MCP authorization,
// "Authorization Server Metadata Discovery"). The same document is served
// at all of them; "issuer" is exactly Options.Issuer.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(s.metadata)
}

// handleJWKS serves the public signing keys (RFC 7517 section 5) for
// resource servers that verify access tokens locally (RFC 9068 section 4).
// Short caching lets verifiers pick up rotations (keys are published a day
// before they sign).
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	h.Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(s.keys.JWKS())
}
