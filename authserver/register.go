package authserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// maxRegistrationBytes bounds a registration request body.
const maxRegistrationBytes = 16 << 10

// handleRegister is the RFC 7591 dynamic client registration endpoint,
// kept for clients without a metadata document (the 2026-07-28 MCP
// revision deprecates it in favour of CIMD). Registration is open but
// rate limited per client IP; metadata is validated (redirect URIs https
// or loopback only), secrets are issued only to confidential clients and
// stored hashed, and registrations that never obtain a token expire
// (Options.Registration.UnusedTTL). The response includes an RFC 7592
// registration access token for reading, updating and deleting the
// registration.
func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	switch ok, err := s.regLimiter.Allow(ctx, s.clientIP(r)); {
	case err != nil:
		// The shared counter cannot be read: refuse (fail closed), and say
		// that it is the server, not the client, that is at fault.
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, oauth.Wrap(oauth.TemporarilyUnavailable, "registration is unavailable; try again later", err))
		return
	case !ok:
		w.Header().Set("Retry-After", "3600")
		s.fail(w, r, &oauth.Error{Code: oauth.TemporarilyUnavailable, Description: "too many registrations from this address",
			Status: http.StatusTooManyRequests})
		return
	}
	m, err := readMetadata(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	m.ClientID = ""
	if err := validateMetadata(m, kindDynamic); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.now()
	c := &storage.Client{ID: "mcpf_" + randomID(), Source: storage.ClientDynamic, Metadata: *m, CreatedAt: now, UpdatedAt: now}
	c.Metadata.ClientID = c.ID
	info := oauth.ClientInformation{ClientMetadata: c.Metadata, ClientIDIssuedAt: now.Unix()}
	if m.TokenEndpointAuthMethod == oauth.AuthClientSecretBasic || m.TokenEndpointAuthMethod == oauth.AuthClientSecretPost {
		secret := randomToken()
		c.SecretHash = hashSecret(secret)
		info.ClientSecret = secret
		never := int64(0)
		info.ClientSecretExpiresAt = &never
	}
	rat := randomToken()
	c.RegistrationTokenHash = hashSecret(rat)
	info.RegistrationAccessToken = rat
	info.RegistrationClientURI = s.origin + s.endpoints.register + "/" + c.ID
	if err := s.store.CreateClient(ctx, c); err != nil {
		s.fail(w, r, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	s.log.InfoContext(ctx, "client registered", "client_id", c.ID, "client_ip", s.clientIP(r))
	writeJSON(w, http.StatusCreated, info)
}

// readMetadata reads a JSON client metadata body through the JSON
// chokepoint.
func readMetadata(w http.ResponseWriter, r *http.Request) (*oauth.ClientMetadata, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, oauth.NewError(oauth.InvalidClientMetadata, "request body must be application/json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRegistrationBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &oauth.Error{Code: oauth.InvalidClientMetadata, Description: "request body too large", Status: http.StatusRequestEntityTooLarge}
		}
		return nil, oauth.Wrap(oauth.InvalidRequest, "request body unreadable", err)
	}
	return oauth.ParseClientMetadata(b)
}

// registration authenticates an RFC 7592 request: the bearer registration
// access token must belong to the client named in the path. Any failure,
// including an unknown client, is 401 invalid_token (RFC 7592 section 2:
// "If the client does not exist on this server, the server MUST respond
// with HTTP 401 Unauthorized").
func (s *Server) registration(ctx context.Context, r *http.Request) (*storage.Client, error) {
	unauthorized := oauth.NewError(oauth.InvalidToken, "invalid registration access token")
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 128 {
		return nil, unauthorized
	}
	c, err := s.store.GetClient(ctx, r.PathValue("id"))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, unauthorized
	}
	if err != nil {
		return nil, oauth.Wrap(oauth.ServerError, "internal error", err)
	}
	if c.Source != storage.ClientDynamic || len(c.RegistrationTokenHash) == 0 ||
		subtle.ConstantTimeCompare(c.RegistrationTokenHash, hashSecret(tok)) != 1 {
		return nil, unauthorized
	}
	return c, nil
}

func (s *Server) failRegistration(w http.ResponseWriter, r *http.Request, err error) {
	if oauth.CodeOf(err) == oauth.InvalidToken {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	s.fail(w, r, err)
}

func (s *Server) clientInfo(c *storage.Client) oauth.ClientInformation {
	return oauth.ClientInformation{ClientMetadata: c.Metadata, ClientIDIssuedAt: c.CreatedAt.Unix(),
		RegistrationClientURI: s.origin + s.endpoints.register + "/" + c.ID}
}

// handleRegistrationRead returns the client's current registration (RFC
// 7592 section 2.1). The client secret is not returned: only its digest
// is stored.
func (s *Server) handleRegistrationRead(w http.ResponseWriter, r *http.Request) {
	c, err := s.registration(r.Context(), r)
	if err != nil {
		s.failRegistration(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.clientInfo(c))
}

// handleRegistrationUpdate replaces the client's metadata (RFC 7592
// section 2.2). The body must name the same client_id; a client_secret, if
// sent, must be the current one. The registration access token is rotated.
func (s *Server) handleRegistrationUpdate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.registration(ctx, r)
	if err != nil {
		s.failRegistration(w, r, err)
		return
	}
	m, err := readMetadata(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if m.ClientID != c.ID {
		s.fail(w, r, oauth.NewError(oauth.InvalidRequest, "client_id must match the registration"))
		return
	}
	// RFC 7592 section 2.2: a client_secret in the request must be the
	// current one; a client never chooses its own secret.
	if m.HasClientSecret && (m.ClientSecret == "" || !secretMatches(c.SecretHash, m.ClientSecret)) {
		s.fail(w, r, oauth.NewError(oauth.InvalidClientMetadata, "client_secret does not match the current secret"))
		return
	}
	wasConfidential := len(c.SecretHash) > 0
	if err := validateMetadata(m, kindDynamic); err != nil {
		s.fail(w, r, err)
		return
	}
	isConfidential := m.TokenEndpointAuthMethod == oauth.AuthClientSecretBasic || m.TokenEndpointAuthMethod == oauth.AuthClientSecretPost
	info := oauth.ClientInformation{}
	switch {
	case isConfidential && !wasConfidential:
		secret := randomToken()
		c.SecretHash = hashSecret(secret)
		info.ClientSecret = secret
	case !isConfidential:
		c.SecretHash = nil
	}
	c.Metadata = *m
	c.UpdatedAt = s.now()
	rat := randomToken()
	c.RegistrationTokenHash = hashSecret(rat)
	if err := s.store.UpdateClient(ctx, c); err != nil {
		s.fail(w, r, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	out := s.clientInfo(c)
	out.ClientSecret = info.ClientSecret
	if out.ClientSecret != "" {
		never := int64(0)
		out.ClientSecretExpiresAt = &never
	}
	out.RegistrationAccessToken = rat
	writeJSON(w, http.StatusOK, out)
}

// handleRegistrationDelete removes the registration (RFC 7592 section
// 2.3); its refresh tokens then fail client authentication.
func (s *Server) handleRegistrationDelete(w http.ResponseWriter, r *http.Request) {
	c, err := s.registration(r.Context(), r)
	if err != nil {
		s.failRegistration(w, r, err)
		return
	}
	if err := s.store.DeleteClient(r.Context(), c.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.fail(w, r, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
