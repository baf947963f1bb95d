package oauth

import (
	"encoding/json"
	"fmt"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// ClientMetadata is the client metadata of RFC 7591 section 2, as sent to a
// registration endpoint or published as a client ID metadata document
// (draft-ietf-oauth-client-id-metadata-document section 4), with
// application_type from OpenID Connect Dynamic Client Registration 1.0
// section 2.
type ClientMetadata struct {
	// ClientID is present in client ID metadata documents, where it must
	// equal the document's URL, and in registration responses.
	ClientID                string          `json:"client_id,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method,omitempty"`
	GrantTypes              []string        `json:"grant_types,omitempty"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	ClientURI               string          `json:"client_uri,omitempty"`
	LogoURI                 string          `json:"logo_uri,omitempty"`
	Scope                   string          `json:"scope,omitempty"`
	Contacts                []string        `json:"contacts,omitempty"`
	TOSURI                  string          `json:"tos_uri,omitempty"`
	PolicyURI               string          `json:"policy_uri,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	SoftwareID              string          `json:"software_id,omitempty"`
	SoftwareVersion         string          `json:"software_version,omitempty"`
	ApplicationType         string          `json:"application_type,omitempty"`
	// DPoPBoundAccessTokens, when true, makes the authorization server
	// refuse this client's token requests that carry no DPoP proof
	// (RFC 9449 section 5.2).
	DPoPBoundAccessTokens bool `json:"dpop_bound_access_tokens,omitempty"`

	// HasClientSecret records that the parsed document contained
	// client_secret or client_secret_expires_at, which a client ID metadata
	// document must not (draft section 4.1).
	HasClientSecret bool `json:"-"`
	// ClientSecret is the client_secret member of a parsed RFC 7592
	// update request, which must match the current secret. It is never
	// encoded.
	ClientSecret string `json:"-"`
}

// ClientInformation is the registration response of RFC 7591 section 3.2.1
// and RFC 7592 section 3.
type ClientInformation struct {
	ClientMetadata
	ClientSecret            string `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64  `json:"client_id_issued_at,omitempty"`
	ClientSecretExpiresAt   *int64 `json:"client_secret_expires_at,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
}

// MaxClientMetadataDepth bounds nesting in client metadata; a jwks member
// needs three levels (object, keys array, key object, x5c array).
const MaxClientMetadataDepth = 8

// ParseClientMetadata decodes a client metadata JSON object received from
// an untrusted peer. The bytes pass the jsonx chokepoint first (strict
// UTF-8, RFC 8259 grammar, bounded depth, no duplicate keys), then members
// are matched by exact, case-sensitive name. Members it does not know are
// ignored (RFC 7591 section 2: "The authorization server MUST ignore any
// client metadata sent by the client that it does not understand"); a known
// member of the wrong JSON type is invalid_client_metadata. JSON null is
// treated as absent. The caller bounds len(b).
func ParseClientMetadata(b []byte) (*ClientMetadata, error) {
	members, err := jsonx.ObjectMembers(b, MaxClientMetadataDepth)
	if err != nil {
		return nil, Wrap(InvalidClientMetadata, "client metadata is not a valid JSON object", err)
	}
	m := &ClientMetadata{}
	strs := map[string]*string{
		"client_id":                  &m.ClientID,
		"token_endpoint_auth_method": &m.TokenEndpointAuthMethod,
		"client_name":                &m.ClientName,
		"client_uri":                 &m.ClientURI,
		"logo_uri":                   &m.LogoURI,
		"scope":                      &m.Scope,
		"tos_uri":                    &m.TOSURI,
		"policy_uri":                 &m.PolicyURI,
		"jwks_uri":                   &m.JWKSURI,
		"software_id":                &m.SoftwareID,
		"software_version":           &m.SoftwareVersion,
		"application_type":           &m.ApplicationType,
	}
	lists := map[string]*[]string{
		"redirect_uris":  &m.RedirectURIs,
		"grant_types":    &m.GrantTypes,
		"response_types": &m.ResponseTypes,
		"contacts":       &m.Contacts,
	}
	for _, mem := range members {
		if jsonx.IsNull(mem.Value) {
			continue
		}
		if p, ok := strs[mem.Key]; ok {
			s, ok := jsonx.String(mem.Value)
			if !ok {
				return nil, NewError(InvalidClientMetadata, fmt.Sprintf("%s must be a string", mem.Key))
			}
			*p = s
			continue
		}
		if p, ok := lists[mem.Key]; ok {
			var l []string
			if err := json.Unmarshal(mem.Value, &l); err != nil {
				return nil, NewError(InvalidClientMetadata, fmt.Sprintf("%s must be an array of strings", mem.Key))
			}
			*p = l
			continue
		}
		switch mem.Key {
		case "jwks":
			if !jsonx.IsObject(mem.Value) {
				return nil, NewError(InvalidClientMetadata, "jwks must be an object")
			}
			m.JWKS = append(json.RawMessage(nil), mem.Value...)
		case "dpop_bound_access_tokens":
			switch string(mem.Value) {
			case "true":
				m.DPoPBoundAccessTokens = true
			case "false":
			default:
				return nil, NewError(InvalidClientMetadata, "dpop_bound_access_tokens must be a boolean")
			}
		case "client_secret", "client_secret_expires_at":
			m.HasClientSecret = true
			if mem.Key == "client_secret" {
				if v, ok := jsonx.String(mem.Value); ok {
					m.ClientSecret = v
				}
			}
		}
	}
	return m, nil
}
