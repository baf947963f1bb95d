package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/mcpfort/mcpfort/authserver/cimd"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/web"
)

// maxAuthorizeQuery bounds the authorization request's parameters.
const maxAuthorizeQuery = 8 << 10

// authzRequest is a validated authorization request, carried sealed
// through the sign-in and consent pages so that no server-side state is
// needed between them (any replica can continue it).
type authzRequest struct {
	ClientID      string   `json:"c"`
	RedirectURI   string   `json:"r"`
	RedirectGiven bool     `json:"rg,omitempty"`
	State         string   `json:"s,omitempty"`
	Challenge     string   `json:"cc"`
	Scopes        []string `json:"sc,omitempty"`
	Resources     []string `json:"rs"`
	Nonce         string   `json:"n,omitempty"`
	// DPoPJKT is "dpop_jkt" (RFC 9449 section 10): the code is bound to it.
	DPoPJKT string `json:"dj,omitempty"`
	// Return, set instead of a client, makes this a sign-in only: once
	// the browser is signed in it goes back to Return, a URL under
	// Options.SignInReturns (see handleSignIn).
	Return string `json:"rt,omitempty"`
}

// handleAuthorize is the authorization endpoint (OAuth 2.1 section 4.1.1;
// RFC 6749 section 4.1.1), authorization code flow only.
//
// Errors about the client or its redirect URI are shown to the user and
// never redirected (RFC 6749 section 4.1.2.1: "the authorization server
// SHOULD inform the resource owner of the error and MUST NOT automatically
// redirect the user-agent to the invalid redirection URI"). Every other
// error is redirected to the validated redirect URI with "state" and
// "iss" (RFC 9207 section 2).
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var raw string
	if r.Method == http.MethodPost {
		// OAuth 2.1 section 4.1.1: the endpoint MAY support POST with a
		// form body.
		f, err := readForm(w, r)
		if err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "Invalid request", oauth.AsError(err).Description)
			return
		}
		raw = url.Values(f).Encode()
	} else {
		raw = r.URL.RawQuery
	}
	if len(raw) > maxAuthorizeQuery {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", "The authorization request is too large.")
		return
	}
	req, cl, err := s.parseAuthorizeRequest(ctx, raw)
	if err != nil {
		var pe *pageError
		if errors.As(err, &pe) {
			s.log.InfoContext(ctx, "authorization request refused", "reason", pe.msg, "cause", errString(pe.cause))
			s.errorPage(w, r, http.StatusBadRequest, pe.title, pe.msg)
			return
		}
		s.redirectError(w, r, req, err)
		return
	}
	user, authTime := s.currentUser(ctx, r)
	s.proceed(w, r, req, cl, user, authTime)
}

// pageError is an authorization error shown on a page, never redirected.
type pageError struct {
	title, msg string
	cause      error
}

func (e *pageError) Error() string { return e.title + ": " + e.msg }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// parseAuthorizeRequest validates the request. When the client and
// redirect URI are valid it always returns req (for the error redirect)
// alongside any error.
func (s *Server) parseAuthorizeRequest(ctx context.Context, raw string) (*authzRequest, *client, error) {
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil, nil, &pageError{"Invalid request", "The authorization request is malformed.", err}
	}
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(v[k]) > 1 {
			return nil, nil, &pageError{"Invalid request", "The parameter " + k + " is repeated.", nil}
		}
	}
	f := form(v)
	clientID := f.get("client_id")
	if clientID == "" {
		return nil, nil, &pageError{"Invalid request", "The request does not name a client (client_id is missing).", nil}
	}
	cl, err := s.lookupClient(ctx, clientID)
	if err != nil {
		var ce *cimd.Error
		switch {
		case errors.Is(err, errUnknownClient):
			return nil, nil, &pageError{"Unknown application", "The application asking for access is not known to this server.", err}
		case errors.As(err, &ce):
			return nil, nil, &pageError{"Application not accepted", "The application's metadata document could not be used: " + ce.Reason + ".", err}
		}
		return nil, nil, &pageError{"Temporary error", "The server could not look up the application. Try again later.", err}
	}
	if !cl.allows(oauth.GrantAuthorizationCode) || len(cl.meta.RedirectURIs) == 0 {
		return nil, nil, &pageError{"Application not allowed", "This application may not use the authorization code flow.", nil}
	}
	req := &authzRequest{ClientID: cl.id}
	// OAuth 2.1 section 4.1.1: redirect_uri is optional only when exactly
	// one is registered (and then not a loopback one, whose port varies).
	switch ru := f.get("redirect_uri"); {
	case ru != "":
		if !matchRedirectURI(cl.meta.RedirectURIs, ru) {
			return nil, nil, &pageError{"Invalid redirect", "The redirect URI in the request is not registered for this application.", nil}
		}
		req.RedirectURI, req.RedirectGiven = ru, true
	case len(cl.meta.RedirectURIs) == 1:
		req.RedirectURI = cl.meta.RedirectURIs[0]
	default:
		return nil, nil, &pageError{"Invalid redirect", "The request must name its redirect URI (redirect_uri).", nil}
	}
	// From here on errors go back to the client.
	if len(v["state"]) > 1 {
		return req, cl, oauth.NewError(oauth.InvalidRequest, "state is repeated")
	}
	if len(f.get("state")) > 2048 {
		return req, cl, oauth.NewError(oauth.InvalidRequest, "state is too long")
	}
	req.State = f.get("state")
	for k, vals := range v {
		if len(vals) > 1 && k != "resource" {
			return req, cl, oauth.NewError(oauth.InvalidRequest, "parameter "+safeName(k)+" is repeated")
		}
	}
	switch rt := f.get("response_type"); rt {
	case "code":
	case "":
		return req, cl, oauth.NewError(oauth.InvalidRequest, "response_type is required")
	default:
		return req, cl, oauth.NewError(oauth.UnsupportedResponseType, "only response_type=code is supported")
	}
	if rm := f.get("response_mode"); rm != "" && rm != "query" {
		return req, cl, oauth.NewError(oauth.InvalidRequest, "only response_mode=query is supported")
	}
	if f.get("request") != "" || f.get("request_uri") != "" {
		return req, cl, oauth.NewError(oauth.InvalidRequest, "request objects are not supported")
	}
	// PKCE is required of every client (OAuth 2.1 section 4.1.1), S256
	// only (section 4.1.1: "plain" only if S256 is impossible).
	switch cc, m := f.get("code_challenge"), f.get("code_challenge_method"); {
	case cc == "":
		return req, cl, oauth.NewError(oauth.InvalidRequest, "code_challenge is required (PKCE)")
	case m != oauth.CodeChallengeMethodS256:
		return req, cl, oauth.NewError(oauth.InvalidRequest, "code_challenge_method must be S256")
	case !oauth.ValidCodeChallenge(cc):
		return req, cl, oauth.NewError(oauth.InvalidRequest, "code_challenge is malformed")
	default:
		req.Challenge = cc
	}
	// OpenID Connect Core 1.0 section 3.1.2.1: the nonce is returned
	// unmodified in the ID token.
	if len(f.get("nonce")) > 512 {
		return req, cl, oauth.NewError(oauth.InvalidRequest, "nonce is too long")
	}
	req.Nonce = f.get("nonce")
	// RFC 9449 section 10: "dpop_jkt" binds the code to a DPoP key.
	if req.DPoPJKT = f.get("dpop_jkt"); req.DPoPJKT != "" && !validJKT(req.DPoPJKT) {
		return req, cl, oauth.NewError(oauth.InvalidRequest, "dpop_jkt is malformed")
	}
	rs, err := s.resolveResources(f.all("resource"))
	if err != nil {
		return req, cl, err
	}
	req.Resources = resourceURIs(rs)
	if req.Scopes, err = requestScopes(f.get("scope"), rs, cl.meta.Scope); err != nil {
		return req, cl, err
	}
	return req, cl, nil
}

// proceed continues a validated request: sign-in if needed, consent if
// needed, then the code.
func (s *Server) proceed(w http.ResponseWriter, r *http.Request, req *authzRequest, cl *client, user *storage.User, authTime time.Time) {
	ctx := r.Context()
	if user == nil {
		if s.opts.DisableLocalLogin && s.upstream != nil {
			s.startFederation(w, r, req)
			return
		}
		s.showLogin(w, r, req, cl, "", "", http.StatusOK)
		return
	}
	if req.Return != "" {
		s.returnTo(w, r, req.Return)
		return
	}
	req, err := s.forUser(req, user)
	if err != nil {
		s.redirectError(w, r, req, err)
		return
	}
	need, err := s.needsConsent(ctx, req, cl, user)
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	if need {
		s.showConsent(w, r, req, cl, user)
		return
	}
	s.issueCode(w, r, req, cl, user, authTime)
}

// forUser narrows a request's scopes to what the signed-in user may hold
// (the resources' base scopes and the grants of the user's groups), so
// that the consent page, the code and the token all carry exactly what is
// granted. A resource restricted to groups the user is not in is
// access_denied (RFC 6749 section 4.1.2.1).
func (s *Server) forUser(req *authzRequest, user *storage.User) (*authzRequest, error) {
	scopes, err := userScopes(user, s.resourcesByURI(req.Resources), req.Scopes)
	if err != nil {
		return req, err
	}
	out := *req
	out.Scopes = scopes
	return &out, nil
}

// issueCode stores a new authorization code and redirects to the client
// (RFC 6749 section 4.1.2) with "code", "state" and "iss" (RFC 9207).
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, req *authzRequest, cl *client, user *storage.User, authTime time.Time) {
	code := bindCode(randomToken(), req.DPoPJKT)
	now := s.now()
	redirect := ""
	if req.RedirectGiven {
		redirect = req.RedirectURI
	}
	err := s.store.CreateCode(r.Context(), &storage.AuthCode{
		Hash: hashSecret(code), ClientID: cl.id, UserID: user.ID, RedirectURI: redirect, CodeChallenge: req.Challenge,
		Scopes: req.Scopes, Resources: req.Resources, AuthTime: authTime, CreatedAt: now, ExpiresAt: now.Add(s.opts.CodeLifetime), Nonce: req.Nonce,
	})
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	s.redirect(w, r, req, url.Values{"code": {code}})
}

// redirectError sends an authorization error to the client (RFC 6749
// section 4.1.2.1), or shows it if the redirect URI is not yet validated.
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, req *authzRequest, err error) {
	oe := oauth.AsError(err)
	s.logError(r, oe)
	if req == nil || req.RedirectURI == "" {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", oe.Description)
		return
	}
	v := url.Values{"error": {string(oe.Code)}}
	if oe.Description != "" {
		v.Set("error_description", oe.Description)
	}
	s.redirect(w, r, req, v)
}

// redirect appends params, state and iss to the validated redirect URI,
// keeping its own query component (RFC 6749 section 3.1.2).
func (s *Server) redirect(w http.ResponseWriter, r *http.Request, req *authzRequest, v url.Values) {
	if req.State != "" {
		v.Set("state", req.State)
	}
	v.Set("iss", s.issuer)
	target := req.RedirectURI
	if u, err := url.Parse(target); err == nil && (u.RawQuery != "" || u.ForceQuery) {
		target += "&" + v.Encode()
	} else {
		target += "?" + v.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	http.Redirect(w, r, target, status)
}

// needsConsent reports whether the user must see the consent page:
// unless the client is first-party, or the user already allowed this
// client these scopes and resources. Metadata-document clients whose
// redirect URIs are all on the user's computer are always asked, since any
// local program can present their client_id (MCP security considerations,
// "localhost redirect URI risks").
//
// A public client redirecting to a loopback address is asked again for
// each redirect URI (port included) not consented to before: any program
// on the user's computer can present a public client's ID and listen on
// another port (RFC 8252 section 8.6, client impersonation; MCP security
// best practices).
func (s *Server) needsConsent(ctx context.Context, req *authzRequest, cl *client, user *storage.User) (bool, error) {
	if cl.skipConsent {
		return false, nil
	}
	if cl.kind == kindCIMD && allLoopback(cl.meta.RedirectURIs) {
		return true, nil
	}
	c, err := s.store.GetConsent(ctx, user.ID, cl.id)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if loopbackPublic(cl, req.RedirectURI) && !slices.Contains(c.RedirectURIs, req.RedirectURI) {
		return true, nil
	}
	return !containsAll(c.Scopes, req.Scopes) || !containsAll(c.Resources, req.Resources), nil
}

// loopbackPublic: a public client redirecting to a loopback address.
func loopbackPublic(cl *client, redirectURI string) bool {
	if !cl.public() {
		return false
	}
	u, err := url.Parse(redirectURI)
	return err == nil && isLoopbackRedirectHost(u.Hostname())
}

func (s *Server) showConsent(w http.ResponseWriter, r *http.Request, req *authzRequest, cl *client, user *storage.User) {
	sealed, err := s.seal(purposeRequest, s.opts.RequestLifetime, req)
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	page := web.ConsentPage{
		Common: s.common(w, r, user), Action: s.endpoints.consent, Request: sealed,
		ClientName: cl.name(), ClientID: cl.id, RedirectHost: hostOf(req.RedirectURI),
	}
	if cl.kind == kindCIMD {
		page.ClientHost = hostOf(cl.id)
		page.LocalhostWarning = allLoopback(cl.meta.RedirectURIs)
	}
	rs := s.resourcesByURI(req.Resources)
	for _, res := range rs {
		page.Resources = append(page.Resources, web.Resource{Name: res.name, URI: res.uri})
	}
	for _, sc := range req.Scopes {
		d := ""
		for _, res := range rs {
			if res.desc[sc] != "" {
				d = res.desc[sc]
				break
			}
		}
		if d == "" {
			d = standardScopeDescription(sc)
		}
		page.Scopes = append(page.Scopes, web.Scope{Name: sc, Description: d})
	}
	s.render(w, r, http.StatusOK, web.PageConsent, originOf(req.RedirectURI), page)
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}

// grantConsent records that the user allowed the client the request's
// scopes and resources, merged with what was allowed before.
func (s *Server) grantConsent(ctx context.Context, req *authzRequest, cl *client, user *storage.User) error {
	now := s.now()
	c, err := s.store.GetConsent(ctx, user.ID, cl.id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		c = &storage.Consent{UserID: user.ID, ClientID: cl.id, CreatedAt: now}
	case err != nil:
		return err
	}
	c.Scopes = union(c.Scopes, req.Scopes)
	c.Resources = union(c.Resources, req.Resources)
	if loopbackPublic(cl, req.RedirectURI) && !slices.Contains(c.RedirectURIs, req.RedirectURI) {
		// Keep the most recent few: a client's port may change over time.
		c.RedirectURIs = append(c.RedirectURIs, req.RedirectURI)
		if n := len(c.RedirectURIs); n > 8 {
			c.RedirectURIs = c.RedirectURIs[n-8:]
		}
	}
	slices.Sort(c.Scopes)
	c.UpdatedAt = now
	return s.store.PutConsent(ctx, c)
}

// standardScopeDescription describes the scopes of OpenID Connect on the
// consent page.
func standardScopeDescription(sc string) string {
	switch sc {
	case scopeOfflineAccess:
		return "Stay connected when you are not using it"
	case scopeOpenID:
		return "Know who you are (your account identifier)"
	case scopeProfile:
		return "Your name and username"
	case scopeEmail:
		return "Your email address"
	}
	return ""
}
