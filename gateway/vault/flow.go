package vault

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/storage"
)

// ticket is what a connect link carries, sealed: who may connect which
// route, until when. It opens once.
type ticket struct {
	Issuer  string `json:"i"`
	Subject string `json:"s"`
	Route   string `json:"r"`
	Exp     int64  `json:"e"`
	Nonce   string `json:"n"`
}

// state is the OAuth state parameter, sealed: the ticket's user and
// route, the PKCE verifier (RFC 7636), the client, the browser binding and
// an expiry. It opens once.
type state struct {
	Issuer   string `json:"i"`
	Subject  string `json:"s"`
	Route    string `json:"r"`
	Exp      int64  `json:"e"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ClientID string `json:"c"`
	Browser  string `json:"b"` // SHA-256 of the cookie set on the browser that started
}

const (
	ticketAD              = "mcpfort vault ticket v1"
	stateAD               = "mcpfort vault state v1"
	browserCookie         = "__Host-mcpfort-connect"
	browserCookieInsecure = "mcpfort-connect"
)

func (v *Vault) sealJSON(x any, ad string) (string, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return "", err
	}
	s, err := v.opts.Sealer.Seal(b, ad)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s), nil
}

func (v *Vault) openJSON(s, ad string, x any) error {
	if len(s) > 4096 {
		return errors.New("too long")
	}
	b, err := base64url.Decode(s)
	if err != nil {
		return err
	}
	pt, err := v.opts.Sealer.Open(b, ad)
	if err != nil {
		return err
	}
	return json.Unmarshal(pt, x)
}

// Link is a connect link for the user: the gateway's URL that starts the
// upstream's authorization, with a one-time ticket bound to the user and
// route, good for ticketTTL. id names the elicitation.
func (u *Upstream) Link(user User) (link, id string, err error) {
	t := ticket{Issuer: user.Issuer, Subject: user.Subject, Route: u.opts.Route, Exp: u.v.opts.Now().Add(ticketTTL).Unix(), Nonce: randomID()}
	s, err := u.v.sealJSON(t, ticketAD+"\x00"+u.opts.Route)
	if err != nil {
		return "", "", err
	}
	return u.v.opts.PublicURL + ConnectPath + url.PathEscape(u.opts.Route) + "?ticket=" + s, t.Nonce, nil
}

// Handler serves the browser's side: GET /oauth/connect/{route}?ticket=
// (start) and GET /oauth/connect/callback (the redirection endpoint, RFC
// 6749 section 3.1.2). Neither needs a bearer token: the ticket and the
// sealed state stand for the user.
func (v *Vault) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+CallbackPath, v.callback)
	mux.HandleFunc("GET "+ConnectPath+"{route}", v.connect)
	return mux
}

// sameUser reports whether the browser is signed in as the user
// (issuer, subject) a link or authorization was made for; otherwise it
// answers: a browser not signed in is sent to sign in and back to ret
// (if ret is set and a sign-in page is configured), one signed in as
// someone else gets 403. The MCP server "MUST verify the identity of the
// user who opens the URL before accepting information", by "comparing
// the authoritative subject (sub claim)" of the browser's session with
// the user the URL was made for (MCP 2025-11-25 client/elicitation,
// Security Considerations, Phishing): without it, whoever opens a
// forwarded link would connect their upstream account to the link's
// user, who would then act upstream as them.
func (v *Vault) sameUser(w http.ResponseWriter, r *http.Request, issuer, subject, ret string) bool {
	if v.opts.BrowserUser == nil {
		page(w, http.StatusForbidden, "Not available", "This gateway cannot tell who you are, so it connects no account.")
		return false
	}
	iss, sub, ok := v.opts.BrowserUser(r)
	if !ok {
		if signIn := v.signInURL(ret); signIn != "" {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Referrer-Policy", "no-referrer")
			http.Redirect(w, r, signIn, http.StatusSeeOther)
			return false
		}
		page(w, http.StatusForbidden, "Not signed in", "Sign in to this gateway as the user this link was made for, then open the link again.")
		return false
	}
	if subtle.ConstantTimeCompare([]byte(iss+"\x00"+sub), []byte(issuer+"\x00"+subject)) != 1 {
		v.opts.Logger.Warn("vault: connect link opened by another user", "route", r.PathValue("route"))
		page(w, http.StatusForbidden, "Wrong account", "This link was made for another user. You are signed in to this gateway as someone else: nothing was connected. Open a link that your own client gave you.")
		return false
	}
	return true
}

func (v *Vault) signInURL(ret string) string {
	if ret == "" || v.opts.SignInURL == nil {
		return ""
	}
	return v.opts.SignInURL(ret)
}

// connect opens the ticket, checks that the browser is signed in as the
// ticket's user (sameUser; the ticket is spent only then, so a link
// opened by the wrong browser stays good for its user), marks it used, and redirects the browser to
// the upstream's authorization endpoint with PKCE S256 (RFC 7636 section
// 4), the resource (RFC 8707 section 2) and a sealed state; a cookie binds
// the flow to this browser.
func (v *Vault) connect(w http.ResponseWriter, r *http.Request) {
	route := r.PathValue("route")
	u := v.upstream(route)
	if u == nil {
		page(w, http.StatusNotFound, "Unknown connection", "This gateway has no such upstream.")
		return
	}
	var t ticket
	now := v.opts.Now()
	if err := v.openJSON(r.URL.Query().Get("ticket"), ticketAD+"\x00"+route, &t); err != nil || t.Route != route {
		page(w, http.StatusBadRequest, "Invalid link", "This link is not valid. Ask your client for a new one.")
		return
	}
	if now.Unix() > t.Exp {
		page(w, http.StatusBadRequest, "Expired link", "This link has expired. Ask your client for a new one.")
		return
	}
	if !v.sameUser(w, r, t.Issuer, t.Subject, v.opts.PublicURL+r.URL.RequestURI()) {
		return
	}
	if err := v.opts.UseOnce(r.Context(), "vault-ticket:"+t.Nonce, time.Unix(t.Exp, 0)); err != nil {
		page(w, http.StatusBadRequest, "Used link", "This link was already used. Ask your client for a new one.")
		return
	}
	meta, err := u.metadata(r.Context())
	if err != nil {
		v.opts.Logger.Error("vault: upstream authorization server unavailable", "route", route, "err", err)
		page(w, http.StatusBadGateway, "Upstream unavailable", "The upstream's authorization server could not be reached. Try again later.")
		return
	}
	clientID, err := u.clientID(r.Context(), meta)
	if err != nil {
		v.opts.Logger.Error("vault: no client at the upstream's authorization server", "route", route, "err", err)
		page(w, http.StatusBadGateway, "Upstream unavailable", "The gateway could not register at the upstream's authorization server.")
		return
	}
	conf, err := u.oauthConfig(r.Context(), clientID)
	if err != nil {
		page(w, http.StatusBadGateway, "Upstream unavailable", "The upstream's authorization server could not be reached.")
		return
	}
	cookie := randomID()
	bh := sha256.Sum256([]byte(cookie))
	st := state{Issuer: t.Issuer, Subject: t.Subject, Route: route, Exp: now.Add(stateTTL).Unix(), Nonce: randomID(),
		Verifier: oauth2.GenerateVerifier(), ClientID: clientID, Browser: hex.EncodeToString(bh[:])}
	sealed, err := v.sealJSON(st, stateAD)
	if err != nil {
		page(w, http.StatusInternalServerError, "Error", "The gateway could not start the authorization.")
		return
	}
	secure := strings.HasPrefix(v.opts.PublicURL, "https://")
	name := cookieName(secure, route)
	http.SetCookie(w, &http.Cookie{Name: name, Value: cookie, Path: "/", MaxAge: int(stateTTL / time.Second), HttpOnly: true,
		Secure: secure, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, conf.AuthCodeURL(sealed, oauth2.S256ChallengeOption(st.Verifier), oauth2.SetAuthURLParam("resource", u.opts.Resource)), http.StatusFound)
}

// callback is the redirection endpoint: it opens the state (once, not
// expired, started by this browser), checks the issuer (RFC 9207 section
// 2.4) when the server sends one, redeems the code with the verifier and
// the resource (RFC 6749 section 4.1.3, RFC 7636 section 4.5, RFC 8707
// section 2.2) and stores the tokens sealed for the user and route.
func (v *Vault) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var st state
	if err := v.openJSON(q.Get("state"), stateAD, &st); err != nil {
		page(w, http.StatusBadRequest, "Invalid request", "This authorization response is not valid.")
		return
	}
	now := v.opts.Now()
	if now.Unix() > st.Exp {
		page(w, http.StatusBadRequest, "Expired", "The authorization took too long. Ask your client for a new link.")
		return
	}
	c, err := r.Cookie(cookieName(strings.HasPrefix(v.opts.PublicURL, "https://"), st.Route))
	bh := sha256.Sum256([]byte(cookieValue(c, err)))
	if subtle.ConstantTimeCompare([]byte(hex.EncodeToString(bh[:])), []byte(st.Browser)) != 1 {
		page(w, http.StatusBadRequest, "Invalid request", "This authorization was started in another browser.")
		return
	}
	// The browser that started is still signed in as the state's user
	// (its session may have changed since connect).
	if !v.sameUser(w, r, st.Issuer, st.Subject, "") {
		return
	}
	u := v.upstream(st.Route)
	if u == nil {
		page(w, http.StatusNotFound, "Unknown connection", "This gateway has no such upstream.")
		return
	}
	if e := q.Get("error"); e != "" {
		page(w, http.StatusForbidden, "Not connected", "The upstream's authorization server did not grant access ("+e+").")
		return
	}
	meta, err := u.metadata(r.Context())
	if err != nil {
		page(w, http.StatusBadGateway, "Upstream unavailable", "The upstream's authorization server could not be reached.")
		return
	}
	if iss := q.Get("iss"); iss != "" && iss != meta.Issuer || iss == "" && meta.ResponseIssParameter {
		page(w, http.StatusBadRequest, "Invalid request", "The authorization response names another issuer.")
		return
	}
	// Everything checkable is checked: now the state is spent, so that
	// a response redeems at most once.
	if err := v.opts.UseOnce(r.Context(), "vault-state:"+st.Nonce, time.Unix(st.Exp, 0)); err != nil {
		page(w, http.StatusBadRequest, "Invalid request", "This authorization response was already used.")
		return
	}
	conf, err := u.oauthConfig(r.Context(), st.ClientID)
	if err != nil {
		page(w, http.StatusBadGateway, "Upstream unavailable", "The upstream's authorization server could not be reached.")
		return
	}
	tok, err := conf.Exchange(u.httpContext(r.Context()), q.Get("code"), oauth2.VerifierOption(st.Verifier),
		oauth2.SetAuthURLParam("resource", u.opts.Resource))
	if err != nil {
		v.opts.Logger.Warn("vault: code redemption failed", "route", st.Route, "err", redactErr(err))
		page(w, http.StatusBadGateway, "Not connected", "The upstream's authorization server did not issue a token.")
		return
	}
	if tok.TokenType != "" && !strings.EqualFold(tok.TokenType, "bearer") {
		page(w, http.StatusBadGateway, "Not connected", "The upstream's authorization server issued a token of an unsupported type.")
		return
	}
	user := User{Issuer: st.Issuer, Subject: st.Subject}
	t := tokens{Access: tok.AccessToken, Refresh: tok.RefreshToken, Type: tok.TokenType, Expiry: tok.Expiry, ClientID: st.ClientID}
	sealed, err := u.seal(user.Key(), t)
	if err != nil {
		page(w, http.StatusInternalServerError, "Error", "The gateway could not store the grant.")
		return
	}
	g := storage.VaultGrant{User: user.Key(), Route: st.Route, Issuer: st.Issuer, Subject: st.Subject, Sealed: sealed,
		ExpiresAt: t.Expiry, CreatedAt: now, UpdatedAt: now}
	if _, err := v.opts.Store.PutVaultGrant(r.Context(), g, 0); err != nil {
		v.opts.Logger.Error("vault: store grant", "route", st.Route, "err", err)
		page(w, http.StatusInternalServerError, "Error", "The gateway could not store the grant.")
		return
	}
	page(w, http.StatusOK, "Connected", "You can close this window and return to your client.")
}

// cookieName is the browser binding's cookie for route: one per route,
// so that flows for two routes in one browser do not undo each other;
// __Host- on https (RFC 6265bis section 4.1.3.2).
func cookieName(secure bool, route string) string {
	if secure {
		return browserCookie + "-" + route
	}
	return browserCookieInsecure + "-" + route
}

func cookieValue(c *http.Cookie, err error) string {
	if err != nil || c == nil {
		return ""
	}
	return c.Value
}

// redactErr keeps an OAuth error's code and drops the body, which may
// echo what was sent.
func redactErr(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return "token endpoint error " + re.ErrorCode
	}
	return err.Error()
}

var pageTmpl = template.Must(template.New("p").Parse(`<!doctype html><html><head><meta charset="utf-8"><title>{{.T}}</title></head>` +
	`<body><h1>{{.T}}</h1><p>{{.M}}</p></body></html>`))

func page(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, struct{ T, M string }{title, msg})
}

// Connections serves GET (is the caller connected?) and DELETE (revoke)
// of the caller's own grant at route. It must sit behind the route's
// authentication: userOf reads the caller from the request, and a caller
// reaches only their own grant.
func (u *Upstream) Connections(userOf func(*http.Request) (User, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := userOf(r)
		if !ok {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodGet:
			g, err := u.v.opts.Store.VaultGrant(r.Context(), user.Key(), u.opts.Route)
			if errors.Is(err, storage.ErrNotFound) {
				_ = json.NewEncoder(w).Encode(map[string]any{"route": u.opts.Route, "connected": false})
				return
			}
			if err != nil {
				http.Error(w, `{"error":"unavailable"}`, http.StatusServiceUnavailable)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"route": u.opts.Route, "connected": true,
				"connected_at": g.CreatedAt.UTC().Format(time.RFC3339), "expires_at": g.ExpiresAt.UTC().Format(time.RFC3339)})
		case http.MethodDelete:
			err := u.Revoke(context.WithoutCancel(r.Context()), user.Key())
			switch {
			case errors.Is(err, ErrNotConnected):
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":"not_connected"}`))
			case err != nil:
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":"unavailable"}`))
			default:
				w.WriteHeader(http.StatusNoContent)
			}
		default:
			w.Header().Set("Allow", "GET, DELETE")
			http.Error(w, `{"error":"method_not_allowed"}`, http.StatusMethodNotAllowed)
		}
	})
}
