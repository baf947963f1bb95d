package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

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
		Common: s.common(w, r, nil), Action: s.endpoints.login, Request: sealed,
		Username: username, Error: msg, LocalLogin: !s.opts.DisableLocalLogin,
	}
	if cl != nil {
		page.ClientName = cl.name()
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
	if req.Return != "" {
		// A sign-in only (handleSignIn): no client; the return URL was
		// checked before it was sealed and is checked again on use.
		return &req, nil, true
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
//
// Guessing is throttled before any password is checked (NIST SP 800-63B
// section 5.2.2, rate limiting per account; OWASP Authentication Cheat
// Sheet, "Protect Against Automated Attacks"): the attempt is counted
// against the client's network and against the username, then takes one
// of a fixed number of password-check slots. A refusal at any step costs
// no argon2id work, so neither concurrency nor volume lets an attacker
// evaluate more guesses than the limits allow or make the server hold more
// than MaxConcurrentPasswordHashes checks in memory. Refusals are 429
// (RFC 6585 section 4) or 503 (RFC 9110 section 15.6.4), both with
// Retry-After (RFC 9110 section 10.2.3), on the sign-in page.
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
	ctx := r.Context()
	ip := s.clientIP(r)
	username, password := f.get("username"), f.get("password")
	const wrong = "The username or password is incorrect."
	if !plausibleCredentials(username, password) {
		// Refused without a password check: nothing to count.
		s.showLogin(w, r, req, cl, username, wrong, http.StatusUnauthorized)
		return
	}
	done, refused := s.admitLogin(ctx, ip, username)
	if refused != nil {
		s.log.InfoContext(ctx, "sign-in refused", "client_ip", ip, "reason", refused.reason)
		w.Header().Set("Retry-After", strconv.Itoa(int((refused.retryAfter+time.Second-1)/time.Second)))
		s.showLogin(w, r, req, cl, username, refused.message, refused.status)
		return
	}
	user, err := s.checkPassword(ctx, username, password)
	done(err == nil)
	if err != nil {
		s.log.InfoContext(ctx, "sign-in failed", "client_ip", ip, "reason", err.Error())
		s.showLogin(w, r, req, cl, username, wrong, http.StatusUnauthorized)
		return
	}
	authTime, err := s.startSession(w, user)
	if err != nil {
		s.redirectError(w, r, req, oauth.Wrap(oauth.ServerError, "internal error", err))
		return
	}
	s.proceed(w, r, req, cl, user, authTime)
}

// loginRefusal says why a sign-in attempt was turned away before its
// password was checked.
type loginRefusal struct {
	status     int
	retryAfter time.Duration
	message    string // for the sign-in page
	reason     string // for the log
}

// admitLogin counts a sign-in attempt against the client network's and
// the username's limits and takes a password-check slot. On success the
// caller checks the password and then calls done, which frees the slot
// and, for a correct password, gives the counted attempt back. A limiter
// that fails refuses the attempt (503): without a count there is no limit.
func (s *Server) admitLogin(ctx context.Context, ip, username string) (done func(success bool), refused *loginRefusal) {
	const busy = "Sign-in is busy right now. Try again in a moment."
	ipKey, userKey := loginIPPrefix+ipBucket(ip), loginUserPrefix+username
	var taken []func()
	refund := func() {
		for _, f := range taken {
			f()
		}
	}
	for _, lim := range []struct {
		l      RateLimiter
		key    string
		limit  int
		window time.Duration
	}{
		{s.loginIP, ipKey, s.opts.LoginRateLimit, loginIPWindow},
		{s.loginUser, userKey, s.opts.LoginAccountRateLimit, loginUserWindow},
	} {
		ok, wait, err := lim.l.Take(ctx, lim.key, lim.limit, lim.window)
		if err != nil {
			refund()
			s.log.WarnContext(ctx, "sign-in rate limiter unavailable", "error", err.Error())
			return nil, &loginRefusal{http.StatusServiceUnavailable, 5 * time.Second, busy, "rate limiter unavailable"}
		}
		if !ok {
			// The attempts already counted stay counted: this one was
			// made, only not evaluated.
			return nil, &loginRefusal{http.StatusTooManyRequests, wait, tooManyAttempts(wait), "too many attempts"}
		}
		taken = append(taken, func() {
			if err := lim.l.Refund(context.WithoutCancel(ctx), lim.key); err != nil {
				s.log.WarnContext(ctx, "sign-in rate limiter refund failed", "error", err.Error())
			}
		})
	}
	select {
	case s.hashSlots <- struct{}{}:
	default:
		// Every slot is busy: refuse at once rather than queue, and
		// give the attempt back since its password was not checked.
		refund()
		return nil, &loginRefusal{http.StatusServiceUnavailable, time.Second, busy, "password checks at capacity"}
	}
	return func(success bool) {
		<-s.hashSlots
		if success {
			refund()
		}
	}, nil
}

// tooManyAttempts is the sign-in page's message after a rate limit; it
// is the same whichever limit refused, so it says nothing about whether
// the username exists.
func tooManyAttempts(wait time.Duration) string {
	if m := int((wait + time.Minute - 1) / time.Minute); m > 1 {
		return fmt.Sprintf("Too many sign-in attempts. Try again in %d minutes.", m)
	}
	return "Too many sign-in attempts. Wait a minute and try again."
}

// plausibleCredentials reports whether a username and password are worth
// checking: both present and within bounds.
func plausibleCredentials(username, password string) bool {
	return username != "" && password != "" && len(username) <= 256 && len(password) <= 1024
}

var errBadCredentials = errors.New("bad credentials")

// checkPassword verifies a local user's password. Unknown users cost the
// same argon2id computation as known ones, so response time does not
// reveal which usernames exist. The caller holds a password-check slot.
func (s *Server) checkPassword(ctx context.Context, username, password string) (*storage.User, error) {
	if !plausibleCredentials(username, password) {
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
	ok, verr := s.verifyPassword(hash, password)
	if u == nil || u.PasswordHash == "" || verr != nil || !ok {
		return nil, errBadCredentials
	}
	if u.Disabled {
		return nil, errors.New("user disabled")
	}
	return u, nil
}
