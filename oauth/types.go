package oauth

import (
	"encoding/json"
	"errors"
)

// Grant types (RFC 6749 sections 4.1 and 4.4, RFC 8693 section 2.1).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	// GrantJWTBearer is the RFC 7523 section 2.1 JWT bearer grant; mcpfort
	// accepts it with identity assertion JWT authorization grants
	// (ID-JAG) only.
	GrantJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// GrantProfileIDJAG names the ID-JAG profile in
	// authorization_grant_profiles_supported
	// (draft-ietf-oauth-identity-assertion-authz-grant).
	GrantProfileIDJAG = "urn:ietf:params:oauth:grant-profile:id-jag"
)

// Client authentication methods (RFC 7591 section 2, OIDC Core section 9).
const (
	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// Token type identifiers (RFC 8693 section 3).
const (
	TokenTypeAccessToken  = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeRefreshToken = "urn:ietf:params:oauth:token-type:refresh_token"
	TokenTypeJWT          = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeIDToken      = "urn:ietf:params:oauth:token-type:id_token"
)

// ClientAssertionTypeJWTBearer is the client_assertion_type of RFC 7523
// section 2.2.
const ClientAssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// TokenResponse is the successful token response of RFC 6749 section 5.1,
// with issued_token_type from RFC 8693 section 2.2.1.
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in,omitempty"`
	RefreshToken    string `json:"refresh_token,omitempty"`
	Scope           string `json:"scope,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	// IDToken is the OpenID Connect ID token (OpenID Connect Core 1.0
	// section 3.1.3.3), when the grant included the openid scope.
	IDToken string `json:"id_token,omitempty"`
}

// ServerMetadata is the authorization server metadata of RFC 8414 section
// 2, with the members MCP relies on from RFC 9207 section 3 and the client
// ID metadata document draft.
type ServerMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                              string   `json:"token_endpoint,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported,omitempty"`
	GrantTypesSupported                        []string `json:"grant_types_supported,omitempty"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	ServiceDocumentation                       string   `json:"service_documentation,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported,omitempty"`
	AuthorizationResponseISSParameterSupported bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported,omitempty"`
	// OpenID Connect Discovery 1.0 section 3.
	UserinfoEndpoint                 string   `json:"userinfo_endpoint,omitempty"`
	SubjectTypesSupported            []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported,omitempty"`
	ClaimsSupported                  []string `json:"claims_supported,omitempty"`
	// RFC 9449 section 5.1.
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// draft-ietf-oauth-identity-assertion-authz-grant: the assertion
	// profiles the JWT bearer grant accepts.
	AuthorizationGrantProfilesSupported []string `json:"authorization_grant_profiles_supported,omitempty"`
}

// IntrospectionResponse is the RFC 7662 section 2.2 response. An inactive
// token is answered with Active false and nothing else.
type IntrospectionResponse struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	Exp       int64    `json:"exp,omitempty"`
	Iat       int64    `json:"iat,omitempty"`
	Nbf       int64    `json:"nbf,omitempty"`
	Sub       string   `json:"sub,omitempty"`
	Aud       Audience `json:"aud,omitempty"`
	Iss       string   `json:"iss,omitempty"`
	Jti       string   `json:"jti,omitempty"`
	// Act is the RFC 8693 section 4.1 actor claim of a delegated token.
	Act *Actor `json:"act,omitempty"`
	// Cnf is the RFC 7800 confirmation of a DPoP-bound token (RFC 9449
	// section 6.2).
	Cnf *Confirmation `json:"cnf,omitempty"`
}

// Confirmation is the RFC 7800 "cnf" member with the RFC 9449 section 6
// "jkt" (JWK SHA-256 thumbprint) method.
type Confirmation struct {
	JKT string `json:"jkt,omitempty"`
}

// Actor is the RFC 8693 section 4.1 "act" claim: who acts on behalf of the
// subject. Nested actors record a delegation chain.
type Actor struct {
	Sub string `json:"sub,omitempty"`
	Iss string `json:"iss,omitempty"`
	Act *Actor `json:"act,omitempty"`
}

// Audience is a JWT "aud" value (RFC 7519 section 4.1.3): one string or an
// array of strings. It marshals a single audience as a string.
type Audience []string

// MarshalJSON encodes one audience as a string and several as an array.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = l
	return nil
}

// Contains reports whether s is one of the audiences.
func (a Audience) Contains(s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}
