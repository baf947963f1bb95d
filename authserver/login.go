package authserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/web"
)

// showLogin renders the sign-in page for a pending authorization request.
func (s *Server) showLogin(w http.ResponseWriter, r *http.Request, req *authzRequest, cl *client, username, msg string, status int) {
	sealed, err := s.seal(purposeRequest, s.opts.RequestLifetime, req)
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	page := web.LoginPage{
		Common: s.common(w, r, nil), Action: s.endpoints.login, Request: sealed, ClientName: cl.name(),
		Username: username, Error: msg, LocalLogin: !s.opts.DisableLocalLogin,
	}
	if s.upstream != nil {
		page.Upstream = &web.UpstreamLogin{Name: s.upstream.name(), Action: s.endpoints.federationStart}
	}
	s.render(w, r, status, web.PageLogin, "", page)
}

// resumeRequest opens the sealed request of a sign-in or consent form and
// resolves its client again (a metadata document may have changed or
// been removed meanwhile).
func (s *Server) resumeRequest(w http.ResponseWriter, r *http.Request, f form) (*authzRequest, *client, bool) {
	if !s.checkCSRF(r, f) {
		s.errorPage(w, r, http.StatusForbidden, "Request refused", "The form was not submitted from this site or has expired. Start again from the application.")
		return nil, nil, false
	}
	var req authzRequest
	if err := s.unseal(purposeRequest, f.get("request"), &req); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Request expired", "This sign-in took too long or the page is stale. Start again from the application.")
		return nil, nil, false
	}
	cl, err := s.lookupClient(r.Context(), req.ClientID)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Application not accepted", "The application can no longer be verified.")
		return nil, nil, false
	}
	return &req, cl, true
}

// handleLogin checks a username and password posted from the sign-in page
// and continues the authorization.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	f, err := readForm(w, r)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", oauth.AsError(err).Description)
		return
	}
	req, cl, ok := s.resumeRequest(w, r, f)
	if !ok {
		return
	}
	if s.opts.DisableLocalLogin {
		s.errorPage(w, r, http.StatusForbidden, "Sign-in unavailable", "Password sign-in is disabled.")
		return
	}
	ip := s.clientIP(r)
	username := f.get("username")
	if over, err := s.loginLimiter.Exceeded(r.Context(), ip); over || err != nil {
		s.showLogin(w, r, req, cl, username, "Too many failed attempts. Wait a minute and try again.", http.StatusTooManyRequests)
		return
	}
	user, err := s.checkPassword(r.Context(), username, f.get("password"))
	if err != nil {
		_, _ = s.loginLimiter.Allow(r.Context(), ip)
		s.log.InfoContext(r.Context(), "sign-in failed", "client_ip", ip, "reason", err.Error())
		s.showLogin(w, r, req, cl, username, "The username or password is incorrect.", http.StatusUnauthorized)
		return
	}
	authTime, err := s.startSession(w, user)
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	s.proceed(w, r, req, cl, user, authTime)
}

var errBadCredentials = errors.New("bad credentials")

// checkPassword verifies a local user's password. Unknown users cost the
// same argon2id computation as known ones, so response time does not
// reveal which usernames exist.
func (s *Server) checkPassword(ctx context.Context, username, password string) (*storage.User, error) {
	if username == "" || password == "" || len(username) > 256 || len(password) > 1024 {
		return nil, errBadCredentials
	}
	u, err := s.store.GetUserByUsername(ctx, username)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, err
	}
	hash := dummyPasswordHash
	if u != nil && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, verr := VerifyPassword(hash, password)
	if u == nil || u.PasswordHash == "" || verr != nil || !ok {
		return nil, errBadCredentials
	}
	if u.Disabled {
		return nil, errors.New("user disabled")
	}
	return u, nil
}
