package authserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpfort/mcpfort/oauth"
)

func TestMetadata(t *testing.T) {
	for _, issuerPath := range []string{"", "/tenant1"} {
		t.Run("path="+issuerPath, func(t *testing.T) {
			ts := httptest.NewUnstartedServer(nil)
			issuer := "http://" + ts.Listener.Addr().String() + issuerPath
			e := startEnv(t, ts, issuer, nil)
			urls := []string{
				"/.well-known/oauth-authorization-server" + issuerPath,
				"/.well-known/openid-configuration" + issuerPath,
			}
			if issuerPath != "" {
				urls = append(urls, issuerPath+"/.well-known/openid-configuration")
			}
			for _, u := range urls {
				resp, err := http.Get(e.srv.origin + u)
				if err != nil {
					t.Fatal(err)
				}
				body := readBody(t, resp)
				if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Fatalf("%s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				var m oauth.ServerMetadata
				if err := json.Unmarshal([]byte(body), &m); err != nil {
					t.Fatal(err)
				}
				if m.Issuer != issuer {
					t.Errorf("%s: issuer %q, want %q", u, m.Issuer, issuer)
				}
				if diff := cmp.Diff([]string{"S256"}, m.CodeChallengeMethodsSupported); diff != "" {
					t.Error(diff)
				}
				if !m.ClientIDMetadataDocumentSupported || !m.AuthorizationResponseISSParameterSupported {
					t.Error("CIMD or iss support not advertised")
				}
				if !slices.Contains(m.ResponseTypesSupported, "code") || len(m.ResponseTypesSupported) != 1 {
					t.Errorf("response types %v", m.ResponseTypesSupported)
				}
				for _, ep := range []string{m.AuthorizationEndpoint, m.TokenEndpoint, m.JWKSURI, m.RegistrationEndpoint, m.RevocationEndpoint, m.IntrospectionEndpoint} {
					if !strings.HasPrefix(ep, issuer+"/") {
						t.Errorf("endpoint %q not under the issuer", ep)
					}
				}
			}
			// Wrong insertion paths are not the metadata.
			for _, u := range []string{"/.well-known/oauth-authorization-server/other", "/.well-known/oauth-authorization-serverx"} {
				resp, err := http.Get(e.srv.origin + u)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 404 {
					t.Errorf("%s: status %d", u, resp.StatusCode)
				}
			}
		})
	}
}

func TestIssuerValidation(t *testing.T) {
	for _, iss := range []string{"", "ftp://a", "http://example.com", "https://a.example/", "https://a.example?x", "https://a.example#f",
		"https://u@a.example", "https://a.example/{x}", "relative"} {
		if _, err := validateIssuer(iss); err == nil {
			t.Errorf("issuer %q accepted", iss)
		}
	}
	for _, iss := range []string{"https://a.example", "https://a.example/t1", "http://127.0.0.1:8080", "http://localhost:1/x", "http://[::1]:9"} {
		if _, err := validateIssuer(iss); err != nil {
			t.Errorf("issuer %q refused: %v", iss, err)
		}
	}
}

// TestCodeFlow runs the whole authorization code flow and checks the
// access token a resource server would see.
func TestCodeFlow(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	v, c := pkce()
	q := e.authorize(b, authzParams(c))
	if q.Get("state") != "xyz" || q.Get("iss") != e.srv.issuer || q.Get("code") == "" {
		t.Fatalf("authorization response %v", q)
	}
	res := e.redeem(q.Get("code"), v, nil)
	if res.status != 200 {
		t.Fatalf("token: %d %s", res.status, res.raw)
	}
	if res.header.Get("Cache-Control") != "no-store" {
		t.Error("token response cacheable")
	}
	if res.str("token_type") != "Bearer" || res.str("refresh_token") == "" || res.str("scope") != "mcp:tools" {
		t.Errorf("token response %v", res.body)
	}
	if exp, _ := res.body["expires_in"].(float64); exp != 600 {
		t.Errorf("expires_in %v", res.body["expires_in"])
	}
	claims, err := e.srv.verifyAccessToken(t.Context(), res.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	// "sid" names the refresh-token family, whose revocation revokes the
	// access token.
	fam, _, err := e.srv.store.GetFamilyByToken(t.Context(), hashSecret(res.str("refresh_token")))
	if err != nil {
		t.Fatal(err)
	}
	want := &accessClaims{Iss: e.srv.issuer, Sub: e.user.ID, Aud: oauth.Audience{resMCP}, ClientID: publicClient, Scope: "mcp:tools",
		Exp: e.clock.Now().Add(10 * time.Minute).Unix(), Iat: e.clock.Now().Unix(), Jti: claims.Jti, AuthTime: e.clock.Now().Unix(),
		Groups: []string{adminGroup}, Sid: fam.ID}
	if diff := cmp.Diff(want, claims); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	// The header says at+jwt (RFC 9068 section 2.1).
	hdr, _ := jwtHeader(res.str("access_token"))
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "ES256" || hdr["kid"] == "" {
		t.Errorf("header %v", hdr)
	}

	// A second authorization skips sign-in and consent (session and
	// remembered consent).
	v2, c2 := pkce()
	resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c2).Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("second authorization: status %d", resp.StatusCode)
	}
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if r := e.redeem(loc.Query().Get("code"), v2, nil); r.status != 200 {
		t.Fatalf("second redeem: %s", r.raw)
	}
	// A wider scope asks for consent again.
	p := authzParams(c2)
	p.Set("scope", "mcp:tools mcp:admin")
	resp, _ = b.Get(e.url(e.srv.endpoints.authorize) + "?" + p.Encode())
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !strings.Contains(body, `name="decision"`) {
		t.Fatalf("wider scope did not ask for consent: %d", resp.StatusCode)
	}
}

func jwtHeader(tok string) (map[string]any, error) {
	h, _, _ := strings.Cut(tok, ".")
	raw, err := decodeB64(h)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(raw, &m)
}

func TestRefreshRotationAndReuse(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login(e.browser())
	rt0 := first.str("refresh_token")
	refresh := func(rt string, extra url.Values) tokenResult {
		f := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicClient}}
		for k, v := range extra {
			f[k] = v
		}
		return e.call(tokenCall{form: f})
	}
	r1 := refresh(rt0, nil)
	if r1.status != 200 || r1.str("refresh_token") == "" || r1.str("refresh_token") == rt0 {
		t.Fatalf("rotation: %d %s", r1.status, r1.raw)
	}
	// Narrowing scope and picking a granted resource work; widening fails.
	r2 := refresh(r1.str("refresh_token"), url.Values{"scope": {"mcp:tools"}, "resource": {resMCP}})
	if r2.status != 200 {
		t.Fatalf("narrowed refresh: %s", r2.raw)
	}
	for name, tt := range map[string]struct {
		extra url.Values
		code  string
	}{
		"wider scope":      {url.Values{"scope": {"mcp:tools mcp:admin"}}, "invalid_scope"},
		"ungranted target": {url.Values{"resource": {resOther}}, "invalid_target"},
		"unknown target":   {url.Values{"resource": {"https://nope.example/mcp"}}, "invalid_target"},
	} {
		t.Run(name, func(t *testing.T) {
			r := refresh(r2.str("refresh_token"), tt.extra)
			if r.str("error") != tt.code {
				t.Errorf("got %d %s", r.status, r.raw)
			}
		})
	}
	// Another client cannot use the token.
	other := e.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r2.str("refresh_token")}}, basic: [2]string{confClient, confSecret}})
	if other.status != 400 || (other.str("error") != "invalid_grant" && other.str("error") != "unauthorized_client") {
		t.Errorf("other client: %d %s", other.status, other.raw)
	}
	live := r2.str("refresh_token")
	liveAT := r2.str("access_token")
	if e.introspect(liveAT)["active"] != true {
		t.Fatal("fresh access token inactive")
	}
	// Reusing a rotated token revokes the family: the live token and the
	// newest access token die too.
	reuse := refresh(rt0, nil)
	if reuse.status != 400 || reuse.str("error") != "invalid_grant" {
		t.Fatalf("reuse: %d %s", reuse.status, reuse.raw)
	}
	if r := refresh(live, nil); r.str("error") != "invalid_grant" {
		t.Errorf("live token survived reuse detection: %s", r.raw)
	}
	if e.introspect(liveAT)["active"] != false {
		t.Error("access token of the revoked family still active")
	}
}

func TestRefreshExpiryAndDisabledUser(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RefreshTokenLifetime = time.Hour })
	rt := e.login(e.browser()).str("refresh_token")
	e.clock.Advance(2 * time.Hour)
	r := e.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicClient}}})
	if r.str("error") != "invalid_grant" {
		t.Errorf("expired family: %s", r.raw)
	}

	e2 := newEnv(t, nil)
	rt = e2.login(e2.browser()).str("refresh_token")
	e2.user.Disabled = true
	if err := e2.store.UpdateUser(t.Context(), e2.user); err != nil {
		t.Fatal(err)
	}
	r = e2.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicClient}}})
	if r.str("error") != "invalid_grant" {
		t.Errorf("disabled user refreshed: %s", r.raw)
	}
}

func TestIntrospectionAndRevocation(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.login(e.browser())
	at, rt := tok.str("access_token"), tok.str("refresh_token")
	got := e.introspect(at)
	if got["active"] != true || got["sub"] != e.user.ID || got["client_id"] != publicClient || got["aud"] != resMCP || got["scope"] != "mcp:tools" {
		t.Errorf("introspection %v", got)
	}
	// Refresh tokens are visible only to their own client.
	if e.introspect(rt)["active"] != false {
		t.Error("another client saw the refresh token")
	}
	// Public clients may not introspect.
	r := e.call(tokenCall{path: e.srv.endpoints.introspect, form: url.Values{"token": {at}, "client_id": {publicClient}}})
	if r.status != 401 || r.str("error") != "invalid_client" {
		t.Errorf("public introspection: %d %s", r.status, r.raw)
	}
	// Unauthenticated callers are refused.
	r = e.call(tokenCall{path: e.srv.endpoints.introspect, form: url.Values{"token": {at}}})
	if r.status != 401 {
		t.Errorf("anonymous introspection: %d", r.status)
	}
	for _, junk := range []string{"junk", "a.b.c", strings.Repeat("x", 5000), at + "x"} {
		if e.introspect(junk)["active"] != false {
			t.Errorf("junk %q active", junk[:min(len(junk), 20)])
		}
	}
	// Revocation by another client is a silent no-op.
	r = e.call(tokenCall{path: e.srv.endpoints.revoke, form: url.Values{"token": {at}}, basic: [2]string{confClient, confSecret}})
	if r.status != 200 || e.introspect(at)["active"] != true {
		t.Errorf("foreign revocation took effect: %d", r.status)
	}
	// Revoking the refresh token revokes the family and its access token.
	r = e.call(tokenCall{path: e.srv.endpoints.revoke, form: url.Values{"token": {rt}, "token_type_hint": {"refresh_token"}, "client_id": {publicClient}}})
	if r.status != 200 {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	if e.introspect(at)["active"] != false {
		t.Error("access token active after its family was revoked")
	}
	rr := e.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicClient}}})
	if rr.str("error") != "invalid_grant" {
		t.Errorf("revoked refresh token works: %s", rr.raw)
	}
	// Unknown tokens: 200 (RFC 7009 section 2.2).
	r = e.call(tokenCall{path: e.srv.endpoints.revoke, form: url.Values{"token": {"nonexistent"}, "client_id": {publicClient}}})
	if r.status != 200 {
		t.Errorf("unknown token: %d", r.status)
	}
	// Access-token revocation by its own client.
	tok2 := e.login(e.browser())
	r = e.call(tokenCall{path: e.srv.endpoints.revoke, form: url.Values{"token": {tok2.str("access_token")}, "client_id": {publicClient}}})
	if r.status != 200 || e.introspect(tok2.str("access_token"))["active"] != false {
		t.Error("access token not revoked")
	}
	// Expired tokens are inactive.
	tok3 := e.login(e.browser())
	e.clock.Advance(11 * time.Minute)
	if e.introspect(tok3.str("access_token"))["active"] != false {
		t.Error("expired access token active")
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t, nil)
	cc := func(tc tokenCall) tokenResult {
		if tc.form == nil {
			tc.form = url.Values{}
		}
		tc.form.Set("grant_type", "client_credentials")
		return e.call(tc)
	}
	r := cc(tokenCall{basic: [2]string{confClient, confSecret}, form: url.Values{"scope": {"mcp:tools"}}})
	if r.status != 200 || r.str("refresh_token") != "" || r.str("scope") != "mcp:tools" {
		t.Fatalf("client_credentials: %d %s", r.status, r.raw)
	}
	// A scope the operator did not list for the client is refused.
	if r := cc(tokenCall{basic: [2]string{confClient, confSecret}, form: url.Values{"scope": {"mcp:admin"}}}); r.str("error") != "invalid_scope" {
		t.Errorf("unlisted scope: %d %s", r.status, r.raw)
	}
	c, err := e.srv.verifyAccessToken(t.Context(), r.str("access_token"))
	if err != nil || c.Sub != confClient || c.ClientID != confClient || c.Aud[0] != resMCP {
		t.Errorf("claims %+v %v", c, err)
	}
	// client_secret_post is refused for a client registered for basic.
	r = cc(tokenCall{form: url.Values{"client_id": {confClient}, "client_secret": {confSecret}}})
	if r.status != 401 || r.str("error") != "invalid_client" {
		t.Errorf("post for a basic client: %d %s", r.status, r.raw)
	}
	// Public clients cannot.
	r = cc(tokenCall{form: url.Values{"client_id": {publicClient}}})
	if r.str("error") != "unauthorized_client" {
		t.Errorf("public client_credentials: %s", r.raw)
	}
	// Wrong secret: 401 with a Basic challenge.
	r = cc(tokenCall{basic: [2]string{confClient, "wrong"}})
	if r.status != 401 || r.str("error") != "invalid_client" || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("wrong secret: %d %v %s", r.status, r.header, r.raw)
	}
	if strings.Contains(r.raw, "wrong") {
		t.Error("error echoes the secret")
	}
}

func TestTokenExchange(t *testing.T) {
	e := newEnv(t, nil)
	user := e.login(e.browser())
	x := func(extra url.Values) tokenResult {
		f := url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {user.str("access_token")},
			"subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {resOther}}
		for k, v := range extra {
			f[k] = v
		}
		return e.call(tokenCall{form: f, basic: [2]string{gwClient, gwSecret}})
	}
	st := user.str("access_token")
	// The user's token has no scope for the other resource: refused.
	r := x(nil)
	if r.str("error") != "invalid_scope" {
		t.Errorf("exchange without applicable scope: %s", r.raw)
	}
	r = x(url.Values{"resource": {resMCP}})
	if r.status != 200 || r.str("issued_token_type") != oauth.TokenTypeAccessToken || r.str("refresh_token") != "" {
		t.Fatalf("exchange: %d %s", r.status, r.raw)
	}
	c, err := e.srv.verifyAccessToken(t.Context(), r.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Sub != e.user.ID || c.ClientID != gwClient || c.Act == nil || c.Act.Sub != gwClient || c.Scope != "mcp:tools" {
		t.Errorf("exchanged claims %+v act=%+v", c, c.Act)
	}
	for name, tt := range map[string]struct {
		extra url.Values
		code  string
	}{
		"scope up":         {url.Values{"resource": {resMCP}, "scope": {"mcp:admin"}}, "invalid_scope"},
		"unknown target":   {url.Values{"resource": {"https://x.example/"}}, "invalid_target"},
		"no target":        {url.Values{"resource": nil}, "invalid_target"},
		"audience by name": {url.Values{"resource": nil, "audience": {"Example MCP"}}, ""},
		"bad subject":      {url.Values{"subject_token": {"garbage"}}, "invalid_grant"},
		// The subject token spelled another way (RFC 7515 section 2): the
		// JOSE library alone would skip the line break.
		"subject with a line break": {url.Values{"subject_token": {st[:12] + "\r\n" + st[12:]}}, "invalid_grant"},
		"no subject type":           {url.Values{"subject_token_type": nil}, "invalid_request"},
		"id token type":             {url.Values{"subject_token_type": {oauth.TokenTypeIDToken}}, "invalid_request"},
		"actor token":               {url.Values{"actor_token": {"x"}, "actor_token_type": {oauth.TokenTypeJWT}}, "invalid_request"},
		"refresh requested":         {url.Values{"requested_token_type": {oauth.TokenTypeRefreshToken}}, "invalid_request"},
	} {
		t.Run(name, func(t *testing.T) {
			r := x(tt.extra)
			if tt.code == "" {
				if r.status != 200 {
					t.Errorf("got %d %s", r.status, r.raw)
				}
				return
			}
			if r.str("error") != tt.code {
				t.Errorf("got %d %s, want %s", r.status, r.raw, tt.code)
			}
		})
	}
	// Clients without the grant are refused.
	r = e.call(tokenCall{form: url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {user.str("access_token")},
		"subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {resMCP}}, basic: [2]string{confClient, confSecret}})
	if r.str("error") != "unauthorized_client" {
		t.Errorf("client without the grant: %s", r.raw)
	}
	// A revoked subject token cannot be exchanged.
	e.call(tokenCall{path: e.srv.endpoints.revoke, form: url.Values{"token": {user.str("access_token")}, "client_id": {publicClient}}})
	if r := x(url.Values{"resource": {resMCP}}); r.str("error") != "invalid_grant" {
		t.Errorf("revoked subject exchanged: %s", r.raw)
	}
}
