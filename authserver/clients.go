package authserver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/mcpfort/mcpfort/authserver/cimd"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

type clientKind int

const (
	kindStatic clientKind = iota
	kindDynamic
	kindCIMD
)

// client is a resolved OAuth client, whatever its origin.
type client struct {
	id         string
	kind       clientKind
	meta       oauth.ClientMetadata
	authMethod string
	grantTypes []string
	secretHash []byte
	// rotated, for operator-registered clients, holds the hash of a
	// secret set by SetClientSecret after start; it wins over secretHash.
	rotated         *atomic.Pointer[[]byte]
	secretExpiresAt time.Time
	lastUsedAt      time.Time
	skipConsent     bool
	// Operator-registered clients only: what the client may obtain on its
	// own behalf or by token exchange, and whether it may introspect.
	resources      []*resource
	scopes         []string
	resourceServer bool
}

func (c *client) name() string {
	if c.meta.ClientName != "" {
		return c.meta.ClientName
	}
	return c.id
}

func (c *client) public() bool { return c.authMethod == oauth.AuthNone }

func (c *client) allows(grant string) bool { return slices.Contains(c.grantTypes, grant) }

// errUnknownClient: no client with that ID; the cause is kept for the log.
var errUnknownClient = errors.New("unknown client")

// currentSecretHash is the hash client authentication compares with.
func (c *client) currentSecretHash() []byte {
	if c.rotated != nil {
		if h := c.rotated.Load(); h != nil {
			return *h
		}
	}
	return c.secretHash
}

// SetClientSecret replaces the secret of an operator-registered client
// (Options.Clients) that authenticates with a secret, as when the secret
// rotates in a secret manager: from the next request on, only the new
// secret authenticates the client. It must be at least 32 characters.
func (s *Server) SetClientSecret(id, secret string) error {
	c := s.static[id]
	if c == nil || c.rotated == nil {
		return fmt.Errorf("authserver: %q is not an operator-registered client with a secret", id)
	}
	if len(secret) < 32 {
		return errors.New("authserver: a client secret must be at least 32 characters")
	}
	h := hashSecret(secret)
	c.rotated.Store(&h)
	return nil
}

func hashSecret(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func (s *Server) initStaticClients() error {
	s.static = map[string]*client{}
	var problems []error
	for i, sc := range s.opts.Clients {
		where := fmt.Sprintf("Clients[%d] (%s)", i, sc.ID)
		if sc.ID == "" || cimd.IsClientIDURL(sc.ID) || len(sc.ID) > 255 {
			problems = append(problems, fmt.Errorf("%s: ID must be non-empty, at most 255 bytes and not start with https://", where))
			continue
		}
		if s.static[sc.ID] != nil {
			problems = append(problems, fmt.Errorf("%s: duplicate ID", where))
		}
		m := oauth.ClientMetadata{
			ClientID: sc.ID, ClientName: sc.Name, RedirectURIs: sc.RedirectURIs, GrantTypes: sc.GrantTypes,
			TokenEndpointAuthMethod: sc.TokenEndpointAuthMethod, JWKSURI: sc.JWKSURI,
			DPoPBoundAccessTokens: sc.DPoPBoundAccessTokens,
		}
		if sc.JWKS != "" {
			m.JWKS = json.RawMessage(sc.JWKS)
		}
		if m.TokenEndpointAuthMethod == "" {
			m.TokenEndpointAuthMethod = oauth.AuthNone
			if sc.Secret != "" {
				m.TokenEndpointAuthMethod = oauth.AuthClientSecretBasic
			}
		}
		if len(m.GrantTypes) == 0 {
			m.GrantTypes = []string{oauth.GrantAuthorizationCode, oauth.GrantRefreshToken}
		}
		c := &client{id: sc.ID, kind: kindStatic, skipConsent: sc.SkipConsent, scopes: sc.Scopes, resourceServer: sc.ResourceServer}
		for _, uri := range sc.Resources {
			r, err := s.findResource(uri)
			if err != nil {
				problems = append(problems, fmt.Errorf("%s: Resources: %q is not one of the server's resources", where, uri))
				continue
			}
			c.resources = appendUnique(c.resources, r)
		}
		for _, sc := range c.scopes {
			if !definedBy(c.resources, sc) {
				problems = append(problems, fmt.Errorf("%s: Scopes: %q is not a scope of the client's Resources", where, sc))
			}
		}
		machine := slices.Contains(m.GrantTypes, oauth.GrantClientCredentials) || slices.Contains(m.GrantTypes, oauth.GrantTokenExchange)
		if machine && len(sc.Resources) == 0 {
			problems = append(problems, fmt.Errorf("%s: client_credentials and token exchange need Resources: the resources the client may obtain tokens for", where))
		}
		switch m.TokenEndpointAuthMethod {
		case oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost:
			if len(sc.Secret) < 32 {
				problems = append(problems, fmt.Errorf("%s: Secret must be at least 32 characters", where))
			}
			c.secretHash = hashSecret(sc.Secret)
			c.rotated = new(atomic.Pointer[[]byte])
		default:
			if sc.Secret != "" {
				problems = append(problems, fmt.Errorf("%s: Secret is set but TokenEndpointAuthMethod is %s", where, m.TokenEndpointAuthMethod))
			}
		}
		if err := validateMetadata(&m, kindStatic); err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", where, err))
			continue
		}
		c.meta = m
		c.authMethod = m.TokenEndpointAuthMethod
		c.grantTypes = m.GrantTypes
		s.static[sc.ID] = c
	}
	return errors.Join(problems...)
}

// lookupClient resolves a client_id: a static client, a metadata-document
// URL (fetched under the SSRF policy) or a dynamic registration. Unknown
// clients yield an error wrapping errUnknownClient; a metadata document
// that cannot be used yields a *cimd.Error.
func (s *Server) lookupClient(ctx context.Context, id string) (*client, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty client_id", errUnknownClient)
	}
	if c := s.static[id]; c != nil {
		return c, nil
	}
	if cimd.IsClientIDURL(id) {
		if s.opts.CIMD.Disable {
			return nil, fmt.Errorf("%w: client ID metadata documents are disabled", errUnknownClient)
		}
		m, err := s.cimd.Fetch(ctx, id)
		if err != nil {
			return nil, err
		}
		return &client{id: id, kind: kindCIMD, meta: *m, authMethod: m.TokenEndpointAuthMethod, grantTypes: m.GrantTypes}, nil
	}
	if len(id) > 255 {
		return nil, fmt.Errorf("%w: client_id too long", errUnknownClient)
	}
	sc, err := s.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", errUnknownClient, "not registered")
	}
	if err != nil {
		return nil, err
	}
	return &client{id: sc.ID, kind: kindDynamic, meta: sc.Metadata, authMethod: sc.Metadata.TokenEndpointAuthMethod,
		grantTypes: sc.Metadata.GrantTypes, secretHash: sc.SecretHash, secretExpiresAt: sc.SecretExpiresAt, lastUsedAt: sc.LastUsedAt}, nil
}

// touchClient records that a dynamic client obtained a token, at most
// once an hour, so unused registrations can expire.
func (s *Server) touchClient(ctx context.Context, c *client) {
	if c.kind != kindDynamic || s.now().Sub(c.lastUsedAt) < time.Hour {
		return
	}
	if err := s.store.TouchClient(ctx, c.id, s.now(), time.Hour); err != nil {
		s.log.WarnContext(ctx, "recording client use failed", "client_id", c.id, "error", err.Error())
	}
}

// Limits on registered metadata.
const (
	maxRedirectURIs  = 20
	maxClientNameLen = 200
	maxContacts      = 10
)

// validateMetadata checks and completes client metadata from a
// registration request (RFC 7591 section 2), a metadata document or the
// operator's configuration, filling in defaults. Redirect URI problems are
// invalid_redirect_uri, everything else invalid_client_metadata (RFC 7591
// section 3.2.2).
func validateMetadata(m *oauth.ClientMetadata, kind clientKind) error {
	bad := func(format string, args ...any) error {
		return oauth.NewError(oauth.InvalidClientMetadata, fmt.Sprintf(format, args...))
	}
	if m.TokenEndpointAuthMethod == "" {
		// RFC 7591 section 2 defaults to client_secret_basic; a metadata
		// document cannot hold a secret, so it defaults to none.
		m.TokenEndpointAuthMethod = oauth.AuthClientSecretBasic
		if kind == kindCIMD {
			m.TokenEndpointAuthMethod = oauth.AuthNone
		}
	}
	switch m.TokenEndpointAuthMethod {
	case oauth.AuthNone, oauth.AuthPrivateKeyJWT:
	case oauth.AuthClientSecretBasic, oauth.AuthClientSecretPost:
		if kind == kindCIMD {
			return bad("metadata documents cannot use shared-secret authentication")
		}
	default:
		return bad("unsupported token_endpoint_auth_method %q", m.TokenEndpointAuthMethod)
	}
	if m.TokenEndpointAuthMethod == oauth.AuthPrivateKeyJWT {
		if (len(m.JWKS) == 0) == (m.JWKSURI == "") {
			return bad("private_key_jwt requires exactly one of jwks and jwks_uri")
		}
	} else if len(m.JWKS) > 0 || m.JWKSURI != "" {
		return bad("jwks and jwks_uri are only for private_key_jwt")
	}
	if m.JWKSURI != "" {
		if err := httpsURL(m.JWKSURI); err != nil {
			return bad("jwks_uri: %v", err)
		}
	}
	if len(m.JWKS) > 0 {
		if _, err := parseJWKS(m.JWKS); err != nil {
			return bad("jwks: %v", err)
		}
	}
	if len(m.GrantTypes) == 0 {
		m.GrantTypes = []string{oauth.GrantAuthorizationCode}
	}
	for _, g := range m.GrantTypes {
		switch g {
		case oauth.GrantAuthorizationCode, oauth.GrantRefreshToken:
		case oauth.GrantClientCredentials, oauth.GrantTokenExchange:
			if m.TokenEndpointAuthMethod == oauth.AuthNone {
				return bad("grant type %s requires a confidential client", g)
			}
			// No user consents to these grants, so only the operator may
			// register a client for them (a dynamically registered or
			// metadata-document client would mint tokens anonymously).
			if kind != kindStatic {
				return bad("grant type %s is available to operator-registered clients only", g)
			}
		case oauth.GrantJWTBearer:
			// Identity assertion grants: the identity provider names the
			// client in each assertion, and its policy stands for consent.
			if m.TokenEndpointAuthMethod == oauth.AuthNone {
				return bad("grant type %s requires a confidential client", g)
			}
		default:
			return bad("unsupported grant type %q", g)
		}
	}
	if len(m.ResponseTypes) == 0 && slices.Contains(m.GrantTypes, oauth.GrantAuthorizationCode) {
		m.ResponseTypes = []string{"code"}
	}
	for _, rt := range m.ResponseTypes {
		if rt != "code" {
			return bad("unsupported response type %q", rt)
		}
	}
	if slices.Contains(m.ResponseTypes, "code") != slices.Contains(m.GrantTypes, oauth.GrantAuthorizationCode) {
		return bad("response_types code and grant_types authorization_code go together (RFC 7591 section 2.1)")
	}
	if slices.Contains(m.GrantTypes, oauth.GrantAuthorizationCode) && len(m.RedirectURIs) == 0 {
		return oauth.NewError(oauth.InvalidRedirectURI, "redirect_uris is required for the authorization_code grant")
	}
	if len(m.RedirectURIs) > maxRedirectURIs {
		return oauth.NewError(oauth.InvalidRedirectURI, "too many redirect_uris")
	}
	for _, ru := range m.RedirectURIs {
		if _, err := parseRedirectURI(ru); err != nil {
			return oauth.NewError(oauth.InvalidRedirectURI, err.Error())
		}
	}
	switch m.ApplicationType {
	case "":
	case "native":
	case "web":
		// OpenID Connect Registration 1.0 section 2: web clients "MUST
		// NOT use localhost as the hostname".
		for _, ru := range m.RedirectURIs {
			if u, _ := url.Parse(ru); u != nil && isLoopbackRedirectHost(u.Hostname()) {
				return oauth.NewError(oauth.InvalidRedirectURI, "web applications must not use loopback redirect URIs; register as application_type native")
			}
		}
	default:
		return bad("application_type must be web or native")
	}
	if kind == kindCIMD && m.ClientName == "" {
		return bad("client_name is required in a client metadata document")
	}
	if !utf8.ValidString(m.ClientName) || utf8.RuneCountInString(m.ClientName) > maxClientNameLen || strings.ContainsFunc(m.ClientName, isControl) {
		return bad("client_name must be at most %d printable characters", maxClientNameLen)
	}
	for name, v := range map[string]string{"client_uri": m.ClientURI, "logo_uri": m.LogoURI, "tos_uri": m.TOSURI, "policy_uri": m.PolicyURI} {
		if v != "" {
			if err := httpsURL(v); err != nil {
				return bad("%s: %v", name, err)
			}
		}
	}
	if len(m.Contacts) > maxContacts {
		return bad("too many contacts")
	}
	if _, err := oauth.ParseScope(m.Scope); err != nil {
		return bad("scope is malformed")
	}
	for _, v := range []string{m.SoftwareID, m.SoftwareVersion} {
		if len(v) > 255 {
			return bad("software_id and software_version must be at most 255 bytes")
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

func httpsURL(raw string) error {
	if len(raw) > 2048 {
		return errors.New("URL too long")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
		return errors.New("must be an https URL")
	}
	return nil
}
