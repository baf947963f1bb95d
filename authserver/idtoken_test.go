package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestIDTokenAndUserinfo: a client asking for openid is an OpenID Connect
// relying party; go-oidc (a relying party written against the
// specification) verifies the ID token (signature, issuer, audience,
// expiry, nonce, at_hash) and reads the UserInfo endpoint. Without
// openid there is no ID token and UserInfo refuses the access token.
func TestIDTokenAndUserinfo(t *testing.T) {
	e := newEnv(t, nil)
	e.user.Email, e.user.Name = "alice@example.com", "Alice Liddell"
	if err := e.store.UpdateUser(t.Context(), e.user); err != nil {
		t.Fatal(err)
	}
	ctx := oidc.ClientContext(t.Context(), e.ts.Client())
	provider, err := oidc.NewProvider(ctx, e.srv.issuer)
	if err != nil {
		t.Fatal(err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: publicClient, Now: e.clock.Now})

	login := func(scope string) tokenResult {
		v, c := pkce()
		p := authzParams(c)
		p.Set("scope", scope)
		p.Set("nonce", "n-0S6_WzA2Mj")
		q := e.authorize(e.browser(), p)
		r := e.redeem(q.Get("code"), v, nil)
		if r.status != 200 {
			t.Fatalf("redeem: %d %s", r.status, r.raw)
		}
		return r
	}
	r := login("openid email profile mcp:tools")
	if r.str("scope") != "mcp:tools openid email profile" {
		t.Errorf("scope %q", r.str("scope"))
	}
	idt, err := verifier.Verify(ctx, r.str("id_token"))
	if err != nil {
		t.Fatalf("go-oidc refused the ID token: %v", err)
	}
	if idt.Subject != e.user.ID || idt.Nonce != "n-0S6_WzA2Mj" {
		t.Errorf("ID token sub %q nonce %q", idt.Subject, idt.Nonce)
	}
	if err := idt.VerifyAccessToken(r.str("access_token")); err != nil {
		t.Errorf("at_hash: %v", err)
	}
	var claims struct {
		Email, Name string
		AuthTime    int64 `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != "alice@example.com" || claims.Name != "Alice Liddell" || claims.AuthTime == 0 {
		t.Errorf("claims %+v %v", claims, err)
	}
	ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: r.str("access_token")}))
	if err != nil || ui.Subject != e.user.ID || ui.Email != "alice@example.com" {
		t.Fatalf("userinfo %+v %v", ui, err)
	}
	// The access token still works for its resource: the resource's scope
	// is there, the OpenID ones beside it.
	if c, err := e.srv.verifyAccessToken(t.Context(), r.str("access_token")); err != nil || c.Aud[0] != resMCP {
		t.Errorf("access token %+v %v", c, err)
	}

	// openid alone: the ID token has no email; UserInfo releases none.
	r = login("openid")
	if r.str("scope") != "mcp:tools openid" {
		t.Errorf("scope %q", r.str("scope"))
	}
	idt, err = verifier.Verify(ctx, r.str("id_token"))
	if err != nil {
		t.Fatal(err)
	}
	claims.Email = ""
	if _ = idt.Claims(&claims); claims.Email != "" {
		t.Errorf("email released without the email scope")
	}

	// No openid: no ID token, and UserInfo says insufficient_scope.
	r = login("mcp:tools")
	if r.str("id_token") != "" {
		t.Error("ID token without openid")
	}
	userinfo := func(auth string) (int, string) {
		req, _ := http.NewRequest("GET", e.url(e.srv.endpoints.userinfo), nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}
	if st, ch := userinfo("Bearer " + r.str("access_token")); st != 403 || !strings.Contains(ch, "insufficient_scope") {
		t.Errorf("userinfo without openid: %d %q", st, ch)
	}
	// Hostile callers.
	idToken := login("openid").str("id_token")
	for name, auth := range map[string]string{
		"no token":          "",
		"forged":            "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"an ID token":       "Bearer " + idToken,
		"basic credentials": "Basic " + url.QueryEscape("a:b"),
	} {
		st, ch := userinfo(auth)
		if st != 401 || !strings.HasPrefix(ch, "Bearer") || (auth != "" && !strings.Contains(ch, "invalid_token") && name != "basic credentials") {
			t.Errorf("%s: %d %q", name, st, ch)
		}
	}
}

// TestDiscoveryIsOpenIDConfiguration: go-oidc accepts the discovery
// document, which advertises the OpenID scopes it handles.
func TestDiscoveryIsOpenIDConfiguration(t *testing.T) {
	e := newEnv(t, nil)
	p, err := oidc.NewProvider(oidc.ClientContext(context.Background(), e.ts.Client()), e.srv.issuer)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Scopes   []string `json:"scopes_supported"`
		Userinfo string   `json:"userinfo_endpoint"`
	}
	if err := p.Claims(&m); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"openid", "profile", "email", "offline_access", "mcp:tools"} {
		if !strings.Contains(strings.Join(m.Scopes, " "), want) {
			t.Errorf("scopes_supported %v lacks %s", m.Scopes, want)
		}
	}
	if m.Userinfo != e.url(e.srv.endpoints.userinfo) {
		t.Errorf("userinfo_endpoint %q", m.Userinfo)
	}
}
