package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/web"
)

// Purposes bind sealed values to their use: a sealed pending request
// cannot be replayed as a session cookie.
const (
	purposeSession    = "session"
	purposeRequest    = "request"
	purposeFederation = "federation"
)

// envelope carries a sealed value's expiry.
type envelope struct {
	Exp  int64           `json:"exp"`
	Data json.RawMessage `json:"d"`
}

// seal encrypts and authenticates v for purpose, valid for ttl. The result
// is URL-safe.
func (s *Server) seal(purpose string, ttl time.Duration, v any) (string, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	pt, err := json.Marshal(envelope{Exp: s.now().Add(ttl).Unix(), Data: data})
	if err != nil {
		return "", err
	}
	return s.kek.Load().seal.Seal([]byte("mcpfort/"+purpose), pt)
}

var errSealed = errors.New("sealed value invalid or expired")

// unseal opens a value sealed for purpose and decodes it into v.
func (s *Server) unseal(purpose, token string, v any) error {
	if len(token) > 16<<10 {
		return errSealed
	}
	pt, err := s.kek.Load().seal.Open([]byte("mcpfort/"+purpose), token)
	if err != nil {
		return errSealed
	}
	var env envelope
	if err := json.Unmarshal(pt, &env); err != nil || s.now().Unix() >= env.Exp {
		return errSealed
	}
	if err := json.Unmarshal(env.Data, v); err != nil {
		return errSealed
	}
	return nil
}

// Cookie names. Over https the __Host- prefix makes the browser refuse the
// cookie unless it is Secure, host-only and Path=/ (RFC 6265bis section
// 4.1.3.2), so no subdomain or plain-http page can plant or read it. Over
// plain http (allowed only for a loopback issuer, in development) the
// prefix is impossible and the fallback names "mcpfort-session",
// "mcpfort-csrf" and "mcpfort-federation" are used.
func (s *Server) cookieName(base string) string {
	if s.secure {
		return "__Host-mcpfort-" + base
	}
	return "mcpfort-" + base
}

func (s *Server) setCookie(w http.ResponseWriter, base, value string, ttl time.Duration) {
	c := &http.Cookie{
		Name: s.cookieName(base), Value: value, Path: "/", HttpOnly: true, Secure: s.secure,
		// Lax: the session must accompany the top-level navigation from the
		// client to the authorization endpoint; cross-site POSTs never
		// carry it.
		SameSite: http.SameSiteLaxMode,
	}
	switch {
	case ttl > 0:
		c.MaxAge = int(ttl / time.Second)
	case ttl < 0:
		c.MaxAge = -1 // delete
	}
	http.SetCookie(w, c)
}

func (s *Server) cookie(r *http.Request, base string) string {
	c, err := r.Cookie(s.cookieName(base))
	if err != nil {
		return ""
	}
	return c.Value
}

// session is the signed-in browser.
type session struct {
	UserID   string `json:"u"`
	AuthTime int64  `json:"t"`
}

// currentUser returns the signed-in, enabled user, or nil.
func (s *Server) currentUser(ctx context.Context, r *http.Request) (*storage.User, time.Time) {
	v := s.cookie(r, "session")
	if v == "" {
		return nil, time.Time{}
	}
	var sess session
	if err := s.unseal(purposeSession, v, &sess); err != nil {
		return nil, time.Time{}
	}
	u, err := s.store.GetUser(ctx, sess.UserID)
	if err != nil || u.Disabled {
		return nil, time.Time{}
	}
	return u, time.Unix(sess.AuthTime, 0)
}

func (s *Server) startSession(w http.ResponseWriter, u *storage.User) (time.Time, error) {
	at := s.now()
	v, err := s.seal(purposeSession, s.opts.SessionLifetime, session{UserID: u.ID, AuthTime: at.Unix()})
	if err != nil {
		return time.Time{}, err
	}
	s.setCookie(w, "session", v, s.opts.SessionLifetime)
	return at, nil
}

// csrfToken returns the token forms must echo: an HMAC of the browser's
// random CSRF cookie, which is set if missing (double-submit with a keyed
// token, so a planted cookie alone is useless).
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	c := s.cookie(r, "csrf")
	if len(c) != 43 {
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		c = base64.RawURLEncoding.EncodeToString(b)
		s.setCookie(w, "csrf", c, 0)
		// Make the new cookie visible to later reads in this request.
		r.AddCookie(&http.Cookie{Name: s.cookieName("csrf"), Value: c})
	}
	mac := hmac.New(sha256.New, s.kek.Load().csrf[0])
	mac.Write([]byte(c))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// checkCSRF verifies a form POST from the pages: the echoed token matches
// the cookie, and, when the browser says where the request comes from
// (Origin, Sec-Fetch-Site), it comes from this origin.
func (s *Server) checkCSRF(r *http.Request, f form) bool {
	if o := r.Header.Get("Origin"); o != "" && o != s.origin {
		return false
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	c := s.cookie(r, "csrf")
	if c == "" {
		return false
	}
	for _, key := range s.kek.Load().csrf {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(c))
		want := base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		if hmac.Equal([]byte(want), []byte(f.get("csrf"))) {
			return true
		}
	}
	return false
}

// pageHeaders are set on every HTML page: no framing (clickjacking of the
// consent button), a CSP allowing only our stylesheet and form posts to
// ourselves (plus, for pages that redirect to the client after a POST, the
// client's redirect origin, which browsers check form-action against), no
// caching, and no referrer to other origins (the URL holds the
// authorization request). The policy is same-origin, not no-referrer:
// under no-referrer browsers send "Origin: null" with form posts, which
// the CSRF check must refuse.
func (s *Server) pageHeaders(w http.ResponseWriter, formTarget string) {
	formAction := "'self'"
	if formTarget != "" {
		formAction += " " + formTarget
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// origin of a redirect URI, for the CSP form-action list.
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	// Host is validated (no spaces or semicolons) by parseRedirectURI.
	if strings.ContainsAny(u.Host, " ;,'") {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func (s *Server) common(w http.ResponseWriter, r *http.Request, u *storage.User) web.Common {
	c := web.Common{ServiceName: s.opts.ServiceName, StaticPath: s.endpoints.static, CSRF: s.csrfToken(w, r)}
	if u != nil {
		c.UserName = displayName(u)
		c.LogoutPath = s.endpoints.logout
	}
	return c
}

func displayName(u *storage.User) string {
	switch {
	case u.Username != "":
		return u.Username
	case u.Email != "":
		return u.Email
	case u.Name != "":
		return u.Name
	}
	return u.Subject
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, formTarget string, data any) {
	s.pageHeaders(w, formTarget)
	w.WriteHeader(status)
	if err := s.pages.Render(w, page, data); err != nil {
		s.log.ErrorContext(r.Context(), "page render failed", "page", page, "error", err.Error())
	}
}

// errorPage shows an error that must not be sent to the client's redirect
// URI (RFC 6749 section 4.1.2.1: unknown client or bad redirect URI).
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	s.render(w, r, status, web.PageError, "", web.ErrorPage{Common: s.common(w, r, nil), Title: title, Message: msg})
}

// handleLogout ends the browser session.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	f, err := readForm(w, r)
	if err != nil || !s.checkCSRF(r, f) {
		s.errorPage(w, r, http.StatusForbidden, "Request refused", "The form was not submitted from this site or has expired. Go back and try again.")
		return
	}
	s.setCookie(w, "session", "", -1)
	s.errorPage(w, r, http.StatusOK, "Signed out", "You are signed out.")
}
