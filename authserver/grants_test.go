package authserver

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// walk drives the browser through sign-in and consent like authorize,
// and also returns the consent pages it saw.
func (e *env) walk(b *http.Client, params url.Values) (url.Values, []string) {
	e.t.Helper()
	resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + params.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	var consents []string
	for range 4 {
		switch resp.StatusCode {
		case http.StatusFound, http.StatusSeeOther:
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				e.t.Fatal(err)
			}
			resp.Body.Close()
			return loc.Query(), consents
		case http.StatusOK:
			body := readBody(e.t, resp)
			csrf, req := formFields(e.t, body)
			switch {
			case strings.Contains(body, `name="password"`):
				resp = e.post(b, e.srv.endpoints.login, url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {userPass}})
			case strings.Contains(body, `name="decision"`):
				consents = append(consents, body)
				resp = e.post(b, e.srv.endpoints.consent, url.Values{"csrf": {csrf}, "request": {req}, "decision": {"allow"}})
			default:
				e.t.Fatalf("unexpected page:\n%s", body)
			}
		default:
			e.t.Fatalf("authorize: status %d: %s", resp.StatusCode, readBody(e.t, resp))
		}
	}
	e.t.Fatal("authorization did not finish")
	return nil, nil
}

func (e *env) setGroups(groups ...string) {
	e.t.Helper()
	e.user.Groups = groups
	if err := e.store.UpdateUser(context.Background(), e.user); err != nil {
		e.t.Fatal(err)
	}
}

// TestClientCredentialsOnlyForOperatorClients: no token without a user,
// except for machine clients the operator registered. A dynamically
// registered client that asks for client_credentials is refused at
// registration (RFC 7591 section 3.2.2, invalid_client_metadata), and one
// that holds the grant anyway (a registration stored by an older version)
// is refused at the token endpoint (unauthorized_client).
func TestClientCredentialsOnlyForOperatorClients(t *testing.T) {
	e := newEnv(t, nil)
	for _, grants := range [][]string{{"client_credentials"}, {"authorization_code", "client_credentials"}, {oauth.GrantTokenExchange}} {
		body := `{"client_name":"intruder","grant_types":["` + strings.Join(grants, `","`) + `"],"token_endpoint_auth_method":"client_secret_basic","redirect_uris":["https://app.example/cb"],"response_types":["code"]}`
		if len(grants) == 1 {
			body = `{"client_name":"intruder","grant_types":["` + grants[0] + `"],"token_endpoint_auth_method":"client_secret_basic"}`
		}
		r := e.call(tokenCall{path: e.srv.endpoints.register, raw: body, ctype: "application/json"})
		if r.status != 400 || r.str("error") != "invalid_client_metadata" {
			t.Errorf("registration with %v: %d %s", grants, r.status, r.raw)
		}
	}
	// A metadata document may not claim the grant either.
	m := oauth.ClientMetadata{ClientName: "doc", GrantTypes: []string{oauth.GrantClientCredentials}, TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT,
		JWKSURI: "https://client.example/jwks.json"}
	if err := validateMetadata(&m, kindCIMD); oauth.AsError(err).Code != oauth.InvalidClientMetadata {
		t.Errorf("metadata document with client_credentials: %v", err)
	}

	// A stored dynamic registration holding the grant gets no token.
	secret := "dynamic-secret-dynamic-secret-dynamic"
	sc := &storage.Client{ID: "dyn-m2m", SecretHash: hashSecret(secret), CreatedAt: e.clock.Now(), Metadata: oauth.ClientMetadata{
		ClientID: "dyn-m2m", GrantTypes: []string{oauth.GrantClientCredentials}, TokenEndpointAuthMethod: oauth.AuthClientSecretBasic}}
	if err := e.store.CreateClient(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	r := e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools mcp:admin"}, "resource": {resMCP}},
		basic: [2]string{"dyn-m2m", secret}})
	if r.status != 400 || r.str("error") != "unauthorized_client" || r.str("access_token") != "" {
		t.Errorf("dynamic client_credentials: %d %s", r.status, r.raw)
	}

	// The operator's machine client gets only its listed resources and
	// scopes.
	conf := [2]string{confClient, confSecret}
	r = e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "resource": {resMCP}}, basic: conf})
	if r.status != 200 || r.str("scope") != "mcp:tools" {
		t.Errorf("listed: %d %s", r.status, r.raw)
	}
	if r := e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:admin"}, "resource": {resMCP}}, basic: conf}); r.str("error") != "invalid_scope" {
		t.Errorf("unlisted scope: %d %s", r.status, r.raw)
	}
	// The resource-server client is listed for resMCP only.
	if r := e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "resource": {resOther}}, basic: [2]string{rsClient, rsSecret}}); r.str("error") != "invalid_target" {
		t.Errorf("unlisted resource: %d %s", r.status, r.raw)
	}
}

// TestMachineClientNeedsResources: an operator client for a grant without
// a user must say what it may obtain.
func TestMachineClientNeedsResources(t *testing.T) {
	for _, sc := range []StaticClient{
		{ID: "m2m", Secret: confSecret, GrantTypes: []string{oauth.GrantClientCredentials}},
		{ID: "x", Secret: confSecret, GrantTypes: []string{oauth.GrantTokenExchange}},
		{ID: "m2m", Secret: confSecret, GrantTypes: []string{oauth.GrantClientCredentials}, Resources: []string{"https://nowhere.example/mcp"}},
		{ID: "m2m", Secret: confSecret, GrantTypes: []string{oauth.GrantClientCredentials}, Resources: []string{resMCP}, Scopes: []string{"other:read"}},
	} {
		opts := Options{Issuer: "http://127.0.0.1:1", Store: nil, KeyEncryptionKey: make([]byte, 32),
			Resources:       []Resource{{URI: resMCP, Scopes: []string{"mcp:tools"}}, {URI: resOther, Scopes: []string{"other:read"}}},
			DefaultResource: resMCP, Clients: []StaticClient{sc}}
		if _, err := New(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "Clients[0]") {
			t.Errorf("%+v: %v", sc, err)
		}
	}
}

// TestScopesByGroup: a signed-in user gets the resource's base scopes and
// the scopes of the grants its groups match, never a scope merely because
// it asked; the consent page lists exactly what is granted and the token
// says the same. A route restricted to groups refuses others.
func TestScopesByGroup(t *testing.T) {
	e := newEnv(t, nil)

	// Not in "admins": mcp:admin is neither shown nor granted.
	e.setGroups("staff")
	v, c := pkce()
	p := authzParams(c)
	p.Set("scope", "mcp:tools mcp:admin")
	q, pages := e.walk(e.browser(), p)
	if len(pages) != 1 || strings.Contains(pages[0], "mcp:admin") || !strings.Contains(pages[0], "mcp:tools") {
		t.Fatalf("consent pages %d, first lists admin: %v", len(pages), len(pages) > 0 && strings.Contains(pages[0], "mcp:admin"))
	}
	res := e.redeem(q.Get("code"), v, nil)
	if res.status != 200 || res.str("scope") != "mcp:tools" {
		t.Fatalf("token for a non-admin: %d %s", res.status, res.raw)
	}
	claims, err := e.srv.verifyAccessToken(t.Context(), res.str("access_token"))
	if err != nil || claims.Scope != "mcp:tools" || len(claims.Groups) != 1 || claims.Groups[0] != "staff" {
		t.Fatalf("claims %+v %v", claims, err)
	}

	// In "admins": asked again (a wider grant), and granted.
	e.setGroups(adminGroup)
	v, c = pkce()
	p = authzParams(c)
	p.Set("scope", "mcp:tools mcp:admin")
	b := e.browser()
	q, pages = e.walk(b, p)
	if len(pages) != 1 || !strings.Contains(pages[0], "mcp:admin") {
		t.Fatalf("admin consent pages: %d", len(pages))
	}
	res = e.redeem(q.Get("code"), v, nil)
	if res.str("scope") != "mcp:tools mcp:admin" {
		t.Fatalf("token for an admin: %d %s", res.status, res.raw)
	}

	// Removed from the group: the next refresh drops the scope.
	e.setGroups()
	r := e.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {res.str("refresh_token")}, "client_id": {publicClient}}})
	if r.status != 200 || r.str("scope") != "mcp:tools" {
		t.Fatalf("refresh after leaving the group: %d %s", r.status, r.raw)
	}
}

// TestResourceRestrictedToGroups: users outside a route's groups get
// access_denied, before any consent.
func TestResourceRestrictedToGroups(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Resources[0].Groups = []string{"mcp-users"} })
	_, c := pkce()
	q, pages := e.walk(e.browser(), authzParams(c))
	if q.Get("error") != "access_denied" || q.Get("code") != "" || len(pages) != 0 {
		t.Fatalf("outsider: %v, %d consent pages", q, len(pages))
	}
	e.setGroups("mcp-users")
	v, c := pkce()
	q, _ = e.walk(e.browser(), authzParams(c))
	if r := e.redeem(q.Get("code"), v, nil); r.status != 200 {
		t.Fatalf("member: %v %s", q, r.raw)
	}
}

// TestExchangeTargets: token exchange (RFC 8693) reaches only the targets
// the operator listed for the exchanging client, from subject tokens
// issued for the server's routes; exchange-only upstream resources are
// never reached by the other grants.
func TestExchangeTargets(t *testing.T) {
	const upstream = "https://upstream.example.com/mcp"
	e := newEnv(t, func(o *Options) {
		o.Resources = append(o.Resources, Resource{URI: upstream, Scopes: []string{"mcp:tools"}, ExchangeOnly: true})
		o.Clients[2].Resources = []string{upstream}
		o.Clients[1].Resources = append(o.Clients[1].Resources, upstream)
	})
	user := e.login(e.browser()).str("access_token")
	exchange := func(subject, target string) tokenResult {
		return e.call(tokenCall{form: url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {target}}, basic: [2]string{gwClient, gwSecret}})
	}
	up := exchange(user, upstream)
	if up.status != 200 {
		t.Fatalf("exchange for the upstream: %d %s", up.status, up.raw)
	}
	// A target not listed for the client.
	if r := exchange(user, resOther); r.str("error") != "invalid_target" {
		t.Errorf("unlisted target: %d %s", r.status, r.raw)
	}
	// An exchange result is not a route's token: not exchanged again.
	if r := exchange(up.str("access_token"), upstream); r.str("error") != "invalid_grant" {
		t.Errorf("re-exchange of an upstream token: %d %s", r.status, r.raw)
	}
	// A client_credentials token for another resource is not a route's
	// token either when its audience is exchange-only.
	if r := e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "resource": {upstream}}, basic: [2]string{confClient, confSecret}}); r.str("error") != "invalid_target" {
		t.Errorf("client_credentials for an exchange-only resource: %d %s", r.status, r.raw)
	}
	// Nor through the authorization code flow.
	_, c := pkce()
	p := authzParams(c)
	p.Set("resource", upstream)
	if q, _ := e.walk(e.browser(), p); q.Get("error") != "invalid_target" {
		t.Errorf("authorization for an exchange-only resource: %v", q)
	}
	// A client not registered for the grant.
	if r := e.call(tokenCall{form: url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {user},
		"subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {upstream}}, basic: [2]string{confClient, confSecret}}); r.str("error") != "unauthorized_client" {
		t.Errorf("exchange by a client without the grant: %d %s", r.status, r.raw)
	}
}

// TestLoopbackConsentPerPort: once a user allowed a public client on one
// loopback port, another port is another program: ask again.
func TestLoopbackConsentPerPort(t *testing.T) {
	e := newEnv(t, nil)
	reg := e.call(tokenCall{path: e.srv.endpoints.register, ctype: "application/json",
		raw: `{"client_name":"desktop","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`})
	if reg.status != 201 {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	id := reg.str("client_id")
	b := e.browser()
	for i, tc := range []struct {
		port    string
		consent bool
	}{{"4001", true}, {"4001", false}, {"4002", true}, {"4001", false}, {"4002", false}} {
		_, c := pkce()
		p := authzParams(c)
		p.Set("client_id", id)
		p.Set("redirect_uri", "http://127.0.0.1:"+tc.port+"/cb")
		q, pages := e.walk(b, p)
		if q.Get("code") == "" || (len(pages) > 0) != tc.consent {
			t.Errorf("step %d (port %s): %d consent pages, want consent %v (%v)", i, tc.port, len(pages), tc.consent, q)
		}
	}
}

// TestRegisteredScope: a dynamically registered client's scope limits the
// kinds of scope it names; one that registered only OpenID scopes still
// gets the resource's default, and one that registered a resource scope
// gets no other.
func TestRegisteredScope(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ registered, request, want string }{
		{"openid email profile", "openid email profile", "mcp:tools openid email profile"},
		{"openid", "openid email mcp:tools", "mcp:tools openid"},
		{"mcp:tools", "mcp:tools mcp:admin openid", "mcp:tools openid"},
		{"mcp:admin", "", ""},
	} {
		reg := e.call(tokenCall{path: e.srv.endpoints.register, ctype: "application/json",
			raw: `{"client_name":"c","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"` + tc.registered + `"}`})
		if reg.status != 201 {
			t.Fatalf("register: %d %s", reg.status, reg.raw)
		}
		v, c := pkce()
		p := authzParams(c)
		p.Set("client_id", reg.str("client_id"))
		p.Set("redirect_uri", "http://127.0.0.1:4999/cb")
		p.Set("scope", tc.request)
		q, _ := e.walk(e.browser(), p)
		r := e.call(tokenCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {v},
			"client_id": {reg.str("client_id")}, "redirect_uri": {"http://127.0.0.1:4999/cb"}}})
		if r.status != 200 || r.str("scope") != tc.want {
			t.Errorf("registered %q, requested %q: %d scope %q, want %q (%s)", tc.registered, tc.request, r.status, r.str("scope"), tc.want, r.raw)
		}
	}
}
