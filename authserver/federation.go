package authserver

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/internal/jsonx"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// federation signs users in at an upstream OpenID Connect provider
// (OpenID Connect Core 1.0 section 3.1, authorization code flow, with PKCE
// and a nonce). This server is then a facade: the provider authenticates
// the user, this server issues the MCP tokens. It lets identity providers
// without dynamic registration or metadata documents serve MCP clients.
type federation struct {
	s   *Server
	cfg *Upstream

	mu     sync.Mutex
	disc   *oidcDiscovery
	discAt time.Time
	jwks   *jose.JSONWebKeySet
	jwksAt time.Time
}

// oidcDiscovery is the part of the provider's discovery document (OpenID
// Connect Discovery 1.0 section 3) the flow needs.
type oidcDiscovery struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	UserinfoEndpoint      string `json:"userinfo_endpoint"`
}

// federationState is sealed in a cookie between the redirect to the
// provider and its callback.
type federationState struct {
	State    string       `json:"s"`
	Nonce    string       `json:"n"`
	Verifier string       `json:"v"`
	Request  authzRequest `json:"r"`
}

func newFederation(s *Server, cfg *Upstream) *federation { return &federation{s: s, cfg: cfg} }

func (f *federation) name() string {
	if f.cfg.Name != "" {
		return f.cfg.Name
	}
	return "your organization"
}

func (f *federation) redirectURI() string { return f.s.origin + f.s.endpoints.federationCallback }

// discovery fetches (and caches for an hour) the provider's discovery
// document, whose issuer must equal the configured one exactly (OpenID
// Connect Discovery 1.0 section 4.3).
func (f *federation) discovery(ctx context.Context) (*oidcDiscovery, error) {
	f.mu.Lock()
	if f.disc != nil && f.s.now().Sub(f.discAt) < time.Hour {
		d := f.disc
		f.mu.Unlock()
		return d, nil
	}
	f.mu.Unlock()
	var d oidcDiscovery
	if err := f.getJSON(ctx, strings.TrimSuffix(f.cfg.Issuer, "/")+"/.well-known/openid-configuration", &d); err != nil {
		return nil, err
	}
	if d.Issuer != f.cfg.Issuer {
		return nil, fmt.Errorf("upstream discovery issuer %q does not match %q", d.Issuer, f.cfg.Issuer)
	}
	if d.AuthorizationEndpoint == "" || d.TokenEndpoint == "" || d.JWKSURI == "" {
		return nil, errors.New("upstream discovery document lacks an endpoint")
	}
	f.mu.Lock()
	f.disc, f.discAt = &d, f.s.now()
	f.mu.Unlock()
	return &d, nil
}

func (f *federation) keys(ctx context.Context, d *oidcDiscovery, refresh bool) (*jose.JSONWebKeySet, error) {
	f.mu.Lock()
	if f.jwks != nil && f.s.now().Sub(f.jwksAt) < time.Hour && (!refresh || f.s.now().Sub(f.jwksAt) < time.Minute) {
		k := f.jwks
		f.mu.Unlock()
		return k, nil
	}
	f.mu.Unlock()
	var set jose.JSONWebKeySet
	if err := f.getJSON(ctx, d.JWKSURI, &set); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.jwks, f.jwksAt = &set, f.s.now()
	f.mu.Unlock()
	return &set, nil
}

func (f *federation) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.s.opts.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upstream %s: HTTP %d", u, resp.StatusCode)
	}
	return decodeJSONBody(resp.Body, v)
}

func decodeJSONBody(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, 256<<10))
	if err != nil {
		return err
	}
	if err := jsonx.Validate(b, 16); err != nil {
		return fmt.Errorf("upstream response: %w", err)
	}
	return json.Unmarshal(b, v)
}

// handleFederationStart is the sign-in page's "sign in with" button.
func (s *Server) handleFederationStart(w http.ResponseWriter, r *http.Request) {
	f, err := readForm(w, r)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", oauth.AsError(err).Description)
		return
	}
	req, _, ok := s.resumeRequest(w, r, f)
	if !ok {
		return
	}
	if s.upstream == nil {
		s.errorPage(w, r, http.StatusNotFound, "Sign-in unavailable", "No upstream identity provider is configured.")
		return
	}
	s.startFederation(w, r, req)
}

// startFederation redirects the browser to the provider's authorization
// endpoint with state, nonce and a PKCE challenge, remembered in a sealed
// cookie.
func (s *Server) startFederation(w http.ResponseWriter, r *http.Request, req *authzRequest) {
	fed := s.upstream
	d, err := fed.discovery(r.Context())
	if err != nil {
		s.log.ErrorContext(r.Context(), "upstream identity provider unavailable", "error", err.Error())
		s.redirectError(w, r, req, oauth.Wrap(oauth.TemporarilyUnavailable, "the identity provider is unavailable", err))
		return
	}
	st := federationState{State: randomToken(), Nonce: randomToken(), Verifier: randomToken() + randomToken()[:20], Request: *req}
	sealed, err := s.seal(purposeFederation, s.opts.RequestLifetime, st)
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	s.setCookie(w, "federation", sealed, s.opts.RequestLifetime)
	scopes := []string{"openid"}
	if len(fed.cfg.Scopes) == 0 {
		scopes = append(scopes, "email", "profile")
	}
	for _, sc := range fed.cfg.Scopes {
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	q := url.Values{
		"response_type": {"code"}, "client_id": {fed.cfg.ClientID}, "redirect_uri": {fed.redirectURI()},
		"scope": {strings.Join(scopes, " ")}, "state": {st.State}, "nonce": {st.Nonce},
		"code_challenge": {oauth.S256Challenge(st.Verifier)}, "code_challenge_method": {oauth.CodeChallengeMethodS256},
	}
	target := d.AuthorizationEndpoint
	if strings.Contains(target, "?") {
		target += "&" + q.Encode()
	} else {
		target += "?" + q.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, target, status)
}

// handleFederationCallback receives the provider's authorization response,
// redeems the code and validates the ID token (OpenID Connect Core 1.0
// section 3.1.3.7), then signs the user in here and resumes the client's
// authorization request.
func (s *Server) handleFederationCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fed := s.upstream
	if fed == nil {
		s.errorPage(w, r, http.StatusNotFound, "Sign-in unavailable", "No upstream identity provider is configured.")
		return
	}
	var st federationState
	if err := s.unseal(purposeFederation, s.cookie(r, "federation"), &st); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Sign-in expired", "The sign-in took too long or was started elsewhere. Start again from the application.")
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		s.errorPage(w, r, http.StatusBadRequest, "Sign-in refused", "The identity provider's answer does not belong to this sign-in.")
		return
	}
	s.setCookie(w, "federation", "", -1) // single use
	req := &st.Request
	if e := q.Get("error"); e != "" {
		s.log.InfoContext(ctx, "upstream sign-in failed", "error", e)
		s.redirectError(w, r, req, oauth.NewError(oauth.AccessDenied, "sign-in at the identity provider failed"))
		return
	}
	d, err := fed.discovery(ctx)
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.TemporarilyUnavailable, "the identity provider is unavailable", err))
		return
	}
	// RFC 9207: a provider that says who answered must be the one we asked.
	if iss := q.Get("iss"); iss != "" && iss != d.Issuer {
		s.redirectError(w, r, req, oauth.NewError(oauth.AccessDenied, "the answer came from another identity provider"))
		return
	}
	claims, err := fed.redeem(ctx, d, q.Get("code"), st)
	if err != nil {
		s.log.WarnContext(ctx, "upstream sign-in rejected", "error", err.Error())
		s.redirectError(w, r, req, oauth.Wrap(oauth.AccessDenied, "the identity provider's sign-in could not be verified", err))
		return
	}
	user, err := s.federatedUser(ctx, d.Issuer, claims)
	if err != nil {
		s.log.InfoContext(ctx, "federated user refused", "error", err.Error())
		s.redirectError(w, r, req, oauth.Wrap(oauth.AccessDenied, "this account may not sign in here", err))
		return
	}
	authTime, err := s.startSession(w, user)
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	if req.Return != "" {
		s.proceed(w, r, req, nil, user, authTime)
		return
	}
	cl, err := s.lookupClient(ctx, req.ClientID)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Application not accepted", "The application can no longer be verified.")
		return
	}
	s.proceed(w, r, req, cl, user, authTime)
}

// idClaims are the ID token claims used (OpenID Connect Core 1.0 section 2).
type idClaims struct {
	Iss               string         `json:"iss"`
	Sub               string         `json:"sub"`
	Aud               oauth.Audience `json:"aud"`
	Azp               string         `json:"azp"`
	Exp               int64          `json:"exp"`
	Iat               int64          `json:"iat"`
	Nonce             string         `json:"nonce"`
	Email             string         `json:"email"`
	EmailVerified     bool           `json:"email_verified"`
	Name              string         `json:"name"`
	PreferredUsername string         `json:"preferred_username"`
	// groups is read from Upstream.GroupsClaim; nil when not configured
	// or absent.
	groups []string
}

// redeem exchanges the provider's code and validates the ID token.
func (f *federation) redeem(ctx context.Context, d *oidcDiscovery, code string, st federationState) (*idClaims, error) {
	if code == "" {
		return nil, errors.New("no code in the callback")
	}
	body := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirectURI()}, "code_verifier": {st.Verifier}}
	secret := f.cfg.ClientSecret
	if f.cfg.ClientSecretSource != nil {
		secret = f.cfg.ClientSecretSource()
	}
	if secret == "" {
		body.Set("client_id", f.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.TokenEndpoint, strings.NewReader(body.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(f.cfg.ClientID), url.QueryEscape(secret))
	}
	resp, err := f.s.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstream token request: %w", err)
	}
	defer resp.Body.Close()
	var tr struct {
		IDToken     string `json:"id_token"`
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := decodeJSONBody(resp.Body, &tr); err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || tr.IDToken == "" {
		return nil, fmt.Errorf("upstream token request: HTTP %d %s", resp.StatusCode, safeName(tr.Error))
	}
	if base64url.CompactJWS(tr.IDToken) != nil {
		return nil, errors.New("ID token is not a signed JWT")
	}
	jws, err := jose.ParseSignedCompact(tr.IDToken, assertionAlgs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errors.New("ID token is not a signed JWT")
	}
	hdr := jws.Signatures[0].Protected
	var payload []byte
	for attempt := 0; attempt < 2 && payload == nil; attempt++ {
		set, err := f.keys(ctx, d, attempt > 0)
		if err != nil {
			return nil, err
		}
		for _, k := range set.Keys {
			if (hdr.KeyID == "" || k.KeyID == hdr.KeyID) && (k.Algorithm == "" || k.Algorithm == hdr.Algorithm) {
				if p, err := jws.Verify(k.Key); err == nil {
					payload = p
					break
				}
			}
		}
	}
	if payload == nil {
		return nil, errors.New("ID token signature not verified")
	}
	var c idClaims
	if err := decodeClaims(payload, &c); err != nil {
		return nil, err
	}
	if f.cfg.GroupsClaim != "" {
		var err error
		if c.groups, err = groupsClaim(payload, f.cfg.GroupsClaim); err != nil {
			return nil, err
		}
	}
	now := f.s.now()
	switch {
	case c.Iss != d.Issuer:
		return nil, errors.New("ID token issuer mismatch")
	case !c.Aud.Contains(f.cfg.ClientID):
		return nil, errors.New("ID token audience mismatch")
	case len(c.Aud) > 1 && c.Azp != f.cfg.ClientID:
		return nil, errors.New("ID token azp mismatch")
	case !now.Before(time.Unix(c.Exp, 0)):
		return nil, errors.New("ID token expired")
	case time.Unix(c.Iat, 0).After(now.Add(5 * time.Minute)):
		return nil, errors.New("ID token issued in the future")
	case subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(st.Nonce)) != 1:
		return nil, errors.New("ID token nonce mismatch")
	case c.Sub == "" || len(c.Sub) > 255:
		return nil, errors.New("ID token subject invalid")
	}
	// Providers that follow OpenID Connect Core 1.0 section 5.4 strictly
	// put scope-requested claims (email, name) in the UserInfo response,
	// not in the ID token of the code flow.
	if (c.Email == "" || c.Name == "") && d.UserinfoEndpoint != "" && tr.AccessToken != "" {
		if err := f.userinfo(ctx, d.UserinfoEndpoint, tr.AccessToken, &c); err != nil {
			f.s.log.WarnContext(ctx, "upstream userinfo failed", "error", err.Error())
		}
	}
	return &c, nil
}

// userinfo fills missing profile claims from the UserInfo endpoint (OpenID
// Connect Core 1.0 section 5.3). Its "sub" must be the ID token's (section
// 5.3.2), or the response is ignored.
func (f *federation) userinfo(ctx context.Context, endpoint, accessToken string, c *idClaims) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := f.s.opts.HTTPClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return fmt.Errorf("userinfo: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return err
	}
	var ui idClaims
	if err := decodeClaims(b, &ui); err != nil {
		return err
	}
	if ui.Sub != c.Sub {
		return errors.New("userinfo sub differs from the ID token's")
	}
	if c.Email == "" {
		c.Email, c.EmailVerified = ui.Email, ui.EmailVerified
	}
	if c.Name == "" {
		c.Name = ui.Name
	}
	if c.PreferredUsername == "" {
		c.PreferredUsername = ui.PreferredUsername
	}
	return nil
}

// federatedUser finds or creates the local user of a federated identity,
// keyed by (issuer, subject) as OpenID Connect Core 1.0 section 5.7
// requires (email is not a stable identifier).
func (s *Server) federatedUser(ctx context.Context, issuer string, c *idClaims) (*storage.User, error) {
	u, err := s.store.GetUserBySubject(ctx, issuer, c.Sub)
	now := s.now()
	name := c.Name
	if name == "" {
		name = c.PreferredUsername
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if s.upstream.cfg.DisableAutoCreate {
			return nil, errors.New("no user for this identity and automatic creation is off")
		}
		u = &storage.User{ID: randomID(), Issuer: issuer, Subject: c.Sub, Email: c.Email, Name: name, Groups: c.groups, CreatedAt: now, UpdatedAt: now}
		if err := s.store.CreateUser(ctx, u); err != nil {
			if !errors.Is(err, storage.ErrConflict) {
				return nil, err
			}
			// A concurrent first sign-in created it.
			return s.store.GetUserBySubject(ctx, issuer, c.Sub)
		}
		return u, nil
	case err != nil:
		return nil, err
	case u.Disabled:
		return nil, errors.New("user disabled")
	}
	groupsChanged := s.upstream.cfg.GroupsClaim != "" && !slices.Equal(u.Groups, c.groups)
	if u.Email != c.Email || (name != "" && u.Name != name) || groupsChanged {
		u.Email, u.UpdatedAt = c.Email, now
		if name != "" {
			u.Name = name
		}
		if s.upstream.cfg.GroupsClaim != "" {
			u.Groups = c.groups
		}
		if err := s.store.UpdateUser(ctx, u); err != nil {
			s.log.WarnContext(ctx, "updating federated user failed", "error", err.Error())
		}
	}
	return u, nil
}

// Limits on the groups taken from a provider's claim.
const (
	maxGroups      = 256
	maxGroupLength = 256
)

// groupsClaim reads the user's groups from the ID token claim named by
// name (a dotted name walks nested objects, as in Keycloak's
// "realm_access.roles"): an array of strings or a single string. An
// absent claim is no groups; a claim of another shape is an error, so
// that a misconfiguration is seen rather than silently granting nothing.
func groupsClaim(payload []byte, name string) ([]string, error) {
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil, err
	}
	for _, part := range strings.Split(name, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil
		}
		if v, ok = m[part]; !ok {
			return nil, nil
		}
	}
	var out []string
	switch g := v.(type) {
	case nil:
	case string:
		out = []string{g}
	case []any:
		for _, e := range g {
			str, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("groups claim %q holds a non-string", name)
			}
			out = append(out, str)
		}
	default:
		return nil, fmt.Errorf("groups claim %q is neither a string nor an array", name)
	}
	if len(out) > maxGroups {
		return nil, fmt.Errorf("groups claim %q holds more than %d groups", name, maxGroups)
	}
	for _, g := range out {
		if g == "" || len(g) > maxGroupLength {
			return nil, fmt.Errorf("groups claim %q holds an empty or overlong group", name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
