package authserver

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// BrowserUser returns the subject of the browser's signed-in user (the
// "sub" of the access tokens this server issues to that user) and this
// server's issuer, read from the sign-in session cookie; ok is false when
// the browser is not signed in or the user is disabled. Pages that act on
// a URL handed to a user (MCP 2025-11-25 client/elicitation, Security
// Considerations, Phishing) compare it with the user the URL was made for.
func (s *Server) BrowserUser(r *http.Request) (issuer, subject string, ok bool) {
	u, _ := s.currentUser(r.Context(), r)
	if u == nil {
		return "", "", false
	}
	return s.issuer, u.ID, true
}

// SignInURL is the sign-in page that sends the browser back to ret (which
// must be under Options.SignInReturns) once it is signed in.
func (s *Server) SignInURL(ret string) string {
	return s.endpoints.login + "?" + url.Values{"return": {ret}}.Encode()
}

// handleSignIn is GET /login?return=URL: a sign-in not on behalf of any
// client. A signed-in browser goes straight to the return URL; another
// sees the sign-in page (or the identity provider's), and goes there
// once signed in. The return URL must lie under one of
// Options.SignInReturns: an open redirector would let a phishing link
// borrow this origin (RFC 9700 section 4.11; OAuth 2.1 section 7.12.2).
func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	ret := r.URL.Query().Get("return")
	if !s.returnAllowed(ret) {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", "There is nothing to return to after signing in.")
		return
	}
	user, authTime := s.currentUser(r.Context(), r)
	s.proceed(w, r, &authzRequest{Return: ret}, nil, user, authTime)
}

// returnTo sends a signed-in browser back to ret, checked again.
func (s *Server) returnTo(w http.ResponseWriter, r *http.Request, ret string) {
	if !s.returnAllowed(ret) {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid request", "There is nothing to return to after signing in.")
		return
	}
	s.pageHeaders(w, "")
	http.Redirect(w, r, ret, http.StatusSeeOther)
}

// returnAllowed says whether ret is an absolute URL with the scheme and
// host of one of Options.SignInReturns and a path under its path: no
// user info, fragment, backslash, control character or dot segment that
// a browser would read differently.
func (s *Server) returnAllowed(ret string) bool {
	if ret == "" || len(ret) > 8<<10 || strings.ContainsAny(ret, "\\@") {
		return false
	}
	for _, c := range ret {
		if c < 0x21 || c == 0x7f {
			return false
		}
	}
	u, err := url.Parse(ret)
	if err != nil || u.Opaque != "" || u.User != nil || u.Fragment != "" || u.Host == "" || u.Path == "" ||
		u.RawPath != "" || path.Clean(u.Path) != u.Path {
		return false
	}
	for _, p := range s.opts.SignInReturns {
		pu, err := url.Parse(p)
		if err != nil || pu.Host == "" {
			continue
		}
		if u.Scheme == pu.Scheme && u.Host == pu.Host && strings.HasPrefix(u.Path, pu.Path) {
			return true
		}
	}
	return false
}
