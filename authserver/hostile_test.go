package authserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestAuthorizeHostile: errors about the client or redirect URI are shown,
// never redirected; every other error is redirected with state and iss.
func TestAuthorizeHostile(t *testing.T) {
	e := newEnv(t, nil)
	_, c := pkce()
	mod := func(f func(url.Values)) string {
		p := authzParams(c)
		f(p)
		return p.Encode()
	}
	tests := []struct {
		name     string
		query    string
		wantPage int    // status of an error page, or 0 for a redirect
		wantErr  string // error code in the redirect
		noState  bool
	}{
		{"missing client_id", mod(func(p url.Values) { p.Del("client_id") }), 400, "", false},
		{"unknown client", mod(func(p url.Values) { p.Set("client_id", "nope") }), 400, "", false},
		{"duplicate client_id", mod(func(p url.Values) { p.Add("client_id", publicClient) }), 400, "", false},
		{"unregistered redirect", mod(func(p url.Values) { p.Set("redirect_uri", "https://evil.example/cb") }), 400, "", false},
		{"redirect path differs", mod(func(p url.Values) { p.Set("redirect_uri", "http://127.0.0.1:4567/callback/x") }), 400, "", false},
		{"redirect host differs", mod(func(p url.Values) { p.Set("redirect_uri", "http://localhost:4567/callback") }), 400, "", false},
		{"redirect with fragment", mod(func(p url.Values) { p.Set("redirect_uri", "http://127.0.0.1:4567/callback#x") }), 400, "", false},
		{"redirect with query added", mod(func(p url.Values) { p.Set("redirect_uri", "http://127.0.0.1:4567/callback?a=1") }), 400, "", false},
		{"duplicate redirect", mod(func(p url.Values) { p.Add("redirect_uri", publicCB) }), 400, "", false},
		{"redirect omitted with two registered", mod(func(p url.Values) { p.Del("redirect_uri") }), 400, "", false},
		{"malformed query", "client_id=%zz", 400, "", false},
		{"oversized", "client_id=" + strings.Repeat("a", maxAuthorizeQuery), 400, "", false},
		{"missing response_type", mod(func(p url.Values) { p.Del("response_type") }), 0, "invalid_request", false},
		{"token response_type", mod(func(p url.Values) { p.Set("response_type", "token") }), 0, "unsupported_response_type", false},
		{"duplicate response_type", mod(func(p url.Values) { p.Add("response_type", "code") }), 0, "invalid_request", false},
		{"missing challenge", mod(func(p url.Values) { p.Del("code_challenge") }), 0, "invalid_request", false},
		{"plain challenge", mod(func(p url.Values) { p.Set("code_challenge_method", "plain") }), 0, "invalid_request", false},
		{"missing method", mod(func(p url.Values) { p.Del("code_challenge_method") }), 0, "invalid_request", false},
		{"short challenge", mod(func(p url.Values) { p.Set("code_challenge", "abc") }), 0, "invalid_request", false},
		{"unknown resource", mod(func(p url.Values) { p.Set("resource", "https://evil.example/mcp") }), 0, "invalid_target", false},
		{"resource with fragment", mod(func(p url.Values) { p.Set("resource", resMCP+"#f") }), 0, "invalid_target", false},
		{"relative resource", mod(func(p url.Values) { p.Set("resource", "/mcp") }), 0, "invalid_target", false},
		// Unknown scopes are ignored (RFC 6749 section 3.3), not refused:
		// the request goes on to the sign-in page.
		{"unknown scope", mod(func(p url.Values) { p.Set("scope", "mcp:tools root") }), 200, "", false},
		{"scope of other resource", mod(func(p url.Values) { p.Set("scope", "other:read") }), 200, "", false},
		{"malformed scope", mod(func(p url.Values) { p.Set("scope", "a\"b") }), 0, "invalid_scope", false},
		{"duplicate scope", mod(func(p url.Values) { p.Add("scope", "mcp:admin") }), 0, "invalid_request", false},
		{"duplicate state", mod(func(p url.Values) { p.Add("state", "other") }), 0, "invalid_request", true},
		{"state too long", mod(func(p url.Values) { p.Set("state", strings.Repeat("s", 3000)) }), 0, "invalid_request", true},
		{"fragment response mode", mod(func(p url.Values) { p.Set("response_mode", "fragment") }), 0, "invalid_request", false},
		{"request object", mod(func(p url.Values) { p.Set("request", "eyJ") }), 0, "invalid_request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.browser()
			resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			body := readBody(t, resp)
			if tt.wantPage != 0 {
				if resp.StatusCode != tt.wantPage || resp.Header.Get("Location") != "" {
					t.Fatalf("status %d location %q, want page %d", resp.StatusCode, resp.Header.Get("Location"), tt.wantPage)
				}
				if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
					t.Error("error page without frame-ancestors")
				}
				return
			}
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("status %d, want redirect: %s", resp.StatusCode, body)
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if !strings.HasPrefix(loc.String(), "http://127.0.0.1:4567/callback?") {
				t.Fatalf("redirected to %s", loc)
			}
			q := loc.Query()
			if q.Get("error") != tt.wantErr || q.Get("iss") != e.srv.issuer {
				t.Errorf("redirect %v, want error %s with iss", q, tt.wantErr)
			}
			if !tt.noState && q.Get("state") != "xyz" {
				t.Errorf("state %q", q.Get("state"))
			}
			if q.Get("code") != "" {
				t.Error("code issued with an error")
			}
		})
	}
}

// TestLoopbackAnyPort: RFC 8252 section 7.3.
func TestLoopbackRedirects(t *testing.T) {
	reg := []string{"http://127.0.0.1/cb", "http://[::1]:80/cb", "http://localhost:3000/cb?x=1", "https://app.example/cb"}
	for req, want := range map[string]bool{
		"http://127.0.0.1/cb": true, "http://127.0.0.1:53412/cb": true, "http://[::1]:1/cb": true, "http://localhost:9/cb?x=1": true,
		"https://app.example/cb": true, "https://app.example:443/cb": false, "https://app.example/cb/": false,
		"http://127.0.0.1:5/cb2": false, "http://127.0.0.2:5/cb": false, "http://localhost:9/cb": false, "http://localhost:9/cb?x=2": false,
		"https://127.0.0.1/cb": false, "http://127.0.0.1:5/cb#f": false, "http://user@127.0.0.1:5/cb": false, "HTTP://127.0.0.1/cb": false,
		"https://APP.example/cb": false,
	} {
		if got := matchRedirectURI(reg, req); got != want {
			t.Errorf("%s: match=%v, want %v", req, got, want)
		}
	}
}

// TestTokenHostile covers the token endpoint's refusals.
func TestTokenHostile(t *testing.T) {
	e := newEnv(t, nil)
	newCode := func() (code, verifier string) {
		v, c := pkce()
		q := e.authorize(e.browser(), authzParams(c))
		return q.Get("code"), v
	}
	code, verifier := newCode()
	base := func() url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
			"client_id": {publicClient}, "redirect_uri": {"http://127.0.0.1:4567/callback"}}
	}
	with := func(f func(url.Values)) url.Values { v := base(); f(v); return v }
	tests := []struct {
		name   string
		call   tokenCall
		status int
		code   string
	}{
		{"json body", tokenCall{raw: `{"grant_type":"authorization_code"}`, ctype: "application/json"}, 400, "invalid_request"},
		{"no content type", tokenCall{form: base(), ctype: "text/plain"}, 400, "invalid_request"},
		{"oversized", tokenCall{raw: "grant_type=authorization_code&x=" + strings.Repeat("a", maxFormBytes)}, 400, "invalid_request"},
		{"malformed", tokenCall{raw: "grant_type=%zz"}, 400, "invalid_request"},
		{"missing grant_type", tokenCall{form: with(func(v url.Values) { v.Del("grant_type") })}, 400, "invalid_request"},
		{"duplicate grant_type", tokenCall{form: with(func(v url.Values) { v.Add("grant_type", "authorization_code") })}, 400, "invalid_request"},
		{"duplicate code", tokenCall{form: with(func(v url.Values) { v.Add("code", "x") })}, 400, "invalid_request"},
		{"implicit grant", tokenCall{form: with(func(v url.Values) { v.Set("grant_type", "password") })}, 400, "unsupported_grant_type"},
		{"unknown client", tokenCall{form: with(func(v url.Values) { v.Set("client_id", "nope") })}, 401, "invalid_client"},
		{"no client", tokenCall{form: with(func(v url.Values) { v.Del("client_id") })}, 401, "invalid_client"},
		{"secret for a public client", tokenCall{form: with(func(v url.Values) { v.Set("client_secret", "x") })}, 401, "invalid_client"},
		{"two auth methods", tokenCall{form: with(func(v url.Values) { v.Set("client_secret", confSecret); v.Set("client_id", confClient) }), basic: [2]string{confClient, confSecret}}, 400, "invalid_request"},
		{"basic and other client_id", tokenCall{form: base(), basic: [2]string{confClient, confSecret}}, 400, "invalid_request"},
		{"bearer auth scheme", tokenCall{form: base(), header: map[string]string{"Authorization": "Bearer x"}}, 401, "invalid_client"},
		{"malformed basic", tokenCall{form: base(), header: map[string]string{"Authorization": "Basic !!!"}}, 401, "invalid_client"},
		{"missing code", tokenCall{form: with(func(v url.Values) { v.Del("code") })}, 400, "invalid_request"},
		{"missing verifier", tokenCall{form: with(func(v url.Values) { v.Del("code_verifier") })}, 400, "invalid_request"},
		{"unknown code", tokenCall{form: with(func(v url.Values) { v.Set("code", "bogus") })}, 400, "invalid_grant"},
		{"huge code", tokenCall{form: with(func(v url.Values) { v.Set("code", strings.Repeat("c", 500)) })}, 400, "invalid_grant"},
		{"assertion type without assertion", tokenCall{form: with(func(v url.Values) {
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		})}, 400, "invalid_request"},
		{"unknown assertion type", tokenCall{form: with(func(v url.Values) { v.Set("client_assertion_type", "x"); v.Set("client_assertion", "y") })}, 401, "invalid_client"},
		{"garbage assertion", tokenCall{form: with(func(v url.Values) {
			v.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			v.Set("client_assertion", "a.b.c")
		})}, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(tt.call)
			if r.status != tt.status || r.str("error") != tt.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Error("error response cacheable")
			}
		})
	}
	// None of the refusals consumed the code.
	if r := e.call(tokenCall{form: base()}); r.status != 200 {
		t.Fatalf("code consumed by a refused request: %s", r.raw)
	}

	// Code-specific failures, each on a fresh code. These consume the code
	// (it is single-use and the failed attempt may be an attacker's).
	for _, tt := range []struct {
		name string
		mod  func(url.Values)
		code string
	}{
		{"wrong verifier", func(v url.Values) { v.Set("code_verifier", strings.Repeat("A", 43)) }, "invalid_grant"},
		{"malformed verifier", func(v url.Values) { v.Set("code_verifier", "short") }, "invalid_grant"},
		{"other redirect", func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:4568/callback") }, "invalid_grant"},
		{"omitted redirect", func(v url.Values) { v.Del("redirect_uri") }, "invalid_grant"},
		{"resource not granted", func(v url.Values) { v.Set("resource", resOther) }, "invalid_target"},
		{"unknown resource", func(v url.Values) { v.Set("resource", "https://evil.example/") }, "invalid_target"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, v := newCode()
			f := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {v},
				"client_id": {publicClient}, "redirect_uri": {"http://127.0.0.1:4567/callback"}}
			tt.mod(f)
			r := e.call(tokenCall{form: f})
			if r.status != 400 || r.str("error") != tt.code {
				t.Errorf("got %d %s, want %s", r.status, r.raw, tt.code)
			}
		})
	}

	t.Run("expired code", func(t *testing.T) {
		c, v := newCode()
		e.clock.Advance(61 * time.Second)
		r := e.redeem(c, v, nil)
		if r.str("error") != "invalid_grant" {
			t.Errorf("expired code redeemed: %s", r.raw)
		}
	})
	t.Run("code of another client", func(t *testing.T) {
		c, v := newCode()
		r := e.call(tokenCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {v}}, basic: [2]string{confClient, confSecret}})
		if r.str("error") != "unauthorized_client" && r.str("error") != "invalid_grant" {
			t.Errorf("foreign code: %s", r.raw)
		}
	})
	t.Run("replayed code revokes its tokens", func(t *testing.T) {
		c, v := newCode()
		first := e.redeem(c, v, nil)
		if first.status != 200 {
			t.Fatal(first.raw)
		}
		second := e.redeem(c, v, nil)
		if second.str("error") != "invalid_grant" {
			t.Fatalf("replay: %s", second.raw)
		}
		if e.introspect(first.str("access_token"))["active"] != false {
			t.Error("access token of a replayed code still active")
		}
		r := e.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.str("refresh_token")}, "client_id": {publicClient}}})
		if r.str("error") != "invalid_grant" {
			t.Errorf("refresh token of a replayed code works: %s", r.raw)
		}
	})
}

// TestPagesAndCSRF checks the sign-in and consent pages' defences.
func TestPagesAndCSRF(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	_, c := pkce()
	resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("page headers missing")
	}
	if strings.Contains(body, "<script") {
		t.Error("page has a script")
	}
	var csrfCookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "mcpfort-csrf" {
			csrfCookie = ck
		}
	}
	if csrfCookie == nil || !csrfCookie.HttpOnly || csrfCookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("csrf cookie %+v", csrfCookie)
	}
	csrf, req := formFields(t, body)
	login := func(f url.Values, origin string) *http.Response {
		r, _ := http.NewRequest(http.MethodPost, e.url(e.srv.endpoints.login), strings.NewReader(f.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		resp, err := b.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	good := url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {userPass}}
	for name, tt := range map[string]struct {
		f      url.Values
		origin string
		status int
	}{
		"missing csrf":     {url.Values{"request": {req}, "username": {userName}, "password": {userPass}}, e.srv.origin, 403},
		"wrong csrf":       {url.Values{"csrf": {"x" + csrf}, "request": {req}, "username": {userName}, "password": {userPass}}, e.srv.origin, 403},
		"foreign origin":   {good, "https://evil.example", 403},
		"tampered request": {url.Values{"csrf": {csrf}, "request": {req[:len(req)-2] + "AA"}, "username": {userName}, "password": {userPass}}, e.srv.origin, 400},
		"wrong password":   {url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {"nope"}}, e.srv.origin, 401},
		"unknown user":     {url.Values{"csrf": {csrf}, "request": {req}, "username": {"mallory"}, "password": {"x"}}, e.srv.origin, 401},
		"duplicate field":  {url.Values{"csrf": {csrf, csrf}, "request": {req}}, e.srv.origin, 400},
	} {
		t.Run(name, func(t *testing.T) {
			if resp := login(tt.f, tt.origin); resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	// A sealed request expires.
	e.clock.Advance(16 * time.Minute)
	if resp := login(good, e.srv.origin); resp.StatusCode != 400 {
		t.Errorf("stale request accepted: %d", resp.StatusCode)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.LoginRateLimit = 3 })
	b := e.browser()
	_, c := pkce()
	resp, _ := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	csrf, req := formFields(t, readBody(t, resp))
	try := func(pw string) int {
		r := e.post(b, e.srv.endpoints.login, url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {pw}})
		r.Body.Close()
		return r.StatusCode
	}
	for i := range 3 {
		if s := try("wrong"); s != 401 {
			t.Fatalf("attempt %d: %d", i, s)
		}
	}
	if s := try(userPass); s != http.StatusTooManyRequests {
		t.Errorf("after the limit: %d", s)
	}
	e.clock.Advance(61 * time.Second)
	if s := try(userPass); s != 200 && s != 302 {
		t.Errorf("after the window: %d", s)
	}
}

// TestConsentDenyAndRevoke: denial redirects access_denied; revoking a
// consent on the permissions page revokes the client's tokens and asks
// again next time.
func TestConsentDenyAndRevoke(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	_, c := pkce()
	resp, _ := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	csrf, req := formFields(t, readBody(t, resp))
	resp = e.post(b, e.srv.endpoints.login, url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {userPass}})
	body := readBody(t, resp)
	for _, want := range []string{"CLI", "127.0.0.1:4567", "Use the tools", "Example MCP"} {
		if !strings.Contains(body, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action 'self' http://127.0.0.1:4567") {
		t.Errorf("consent CSP %q does not allow the redirect", resp.Header.Get("Content-Security-Policy"))
	}
	csrf, req = formFields(t, body)
	resp = e.post(b, e.srv.endpoints.consent, url.Values{"csrf": {csrf}, "request": {req}, "decision": {"deny"}})
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "access_denied" || loc.Query().Get("iss") != e.srv.issuer {
		t.Fatalf("deny: %d %s", resp.StatusCode, loc)
	}

	tok := e.login(b)
	resp, _ = b.Get(e.url(e.srv.endpoints.consents))
	body = readBody(t, resp)
	if !strings.Contains(body, publicClient) {
		t.Fatalf("permissions page lacks the client:\n%s", body)
	}
	csrf, _ = formFields(t, body)
	resp = e.post(b, e.srv.endpoints.consentsRevoke, url.Values{"csrf": {csrf}, "client_id": {publicClient}})
	if resp.StatusCode != 200 {
		t.Fatalf("revoke consent: %d", resp.StatusCode)
	}
	resp.Body.Close()
	if e.introspect(tok.str("access_token"))["active"] != false {
		t.Error("access token survived consent withdrawal")
	}
	r := e.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}, "client_id": {publicClient}}})
	if r.str("error") != "invalid_grant" {
		t.Errorf("refresh survived consent withdrawal: %s", r.raw)
	}
	_, c = pkce()
	resp, _ = b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	if body := readBody(t, resp); !strings.Contains(body, `name="decision"`) {
		t.Error("consent not asked again after withdrawal")
	}
}

// TestHTTPSCookies: over https the cookies are __Host- prefixed and Secure.
func TestHTTPSCookies(t *testing.T) {
	ts := newTLSUnstarted()
	e2 := startEnv(t, ts, "https://"+ts.Listener.Addr().String(), nil)
	b := e2.browser()
	_, c := pkce()
	resp, err := b.Get(e2.url(e2.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	if err != nil {
		t.Fatal(err)
	}
	csrf, req := formFields(t, readBody(t, resp))
	resp = e2.post(b, e2.srv.endpoints.login, url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {userPass}})
	resp.Body.Close()
	names := map[string]*http.Cookie{}
	for _, ck := range resp.Cookies() {
		names[ck.Name] = ck
	}
	s := names["__Host-mcpfort-session"]
	if s == nil || !s.Secure || !s.HttpOnly || s.Path != "/" || s.Domain != "" {
		t.Errorf("session cookie %+v (all: %v)", s, fmt.Sprint(resp.Cookies()))
	}
}
