package authserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

const (
	idpIssuer   = "https://idp.enterprise.example"
	entClient   = "enterprise-app"
	entSecret   = "enterprise-app-secret-0123456789abcdef"
	entClient2  = "other-enterprise-app"
	entSecret2  = "other-enterprise-secret-0123456789abcd"
	idjagMaxAge = 5 * time.Minute
)

// idjagClaims are the claims of an identity assertion JWT authorization
// grant (draft-ietf-oauth-identity-assertion-authz-grant, "ID-JAG").
type idjagClaims struct {
	jwt.Claims
	ClientID string   `json:"client_id,omitempty"`
	Resource string   `json:"resource,omitempty"`
	Scope    string   `json:"scope,omitempty"`
	AuthTime int64    `json:"auth_time,omitempty"`
	Extra    []string `json:"amr,omitempty"`
}

// toyIdP publishes an ES256 key and mints ID-JAGs with it.
type toyIdP struct {
	key  *ecdsa.PrivateKey
	srv  *httptest.Server
	mint func(mod func(*idjagClaims), opts ...func(*jose.SignerOptions)) string
}

func newToyIdP(t *testing.T, aud string, now func() time.Time) *toyIdP {
	t.Helper()
	p := &toyIdP{}
	p.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "idp-1", Algorithm: "ES256", Use: "sig"}}})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	t.Cleanup(p.srv.Close)
	var n int
	p.mint = func(mod func(*idjagClaims), opts ...func(*jose.SignerOptions)) string {
		t.Helper()
		n++
		so := (&jose.SignerOptions{}).WithType(typIDJAG)
		for _, o := range opts {
			o(so)
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: p.key, KeyID: "idp-1"}}, so)
		if err != nil {
			t.Fatal(err)
		}
		at := now()
		c := idjagClaims{Claims: jwt.Claims{Issuer: idpIssuer, Subject: "alice@enterprise", Audience: jwt.Audience{aud},
			Expiry: jwt.NewNumericDate(at.Add(idjagMaxAge)), IssuedAt: jwt.NewNumericDate(at), ID: "jti-" + time.Now().Format("150405.000000000") + string(rune('a'+n%26))},
			ClientID: entClient, Resource: resMCP, Scope: "mcp:tools mcp:admin"}
		if mod != nil {
			mod(&c)
		}
		s, err := jwt.Signed(signer).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return p
}

func idjagEnv(t *testing.T) (*env, *toyIdP) {
	t.Helper()
	var idp *toyIdP
	var e *env
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	clock := func() time.Time { return e.clock.Now() }
	idp = newToyIdP(t, issuer, clock)
	e = startEnv(t, ts, issuer, func(o *Options) {
		o.IdentityProviders = []IdentityProvider{{Issuer: idpIssuer, JWKSURI: idp.srv.URL + "/jwks"}}
		o.Clients = append(o.Clients,
			StaticClient{ID: entClient, Secret: entSecret, GrantTypes: []string{oauth.GrantJWTBearer}, TokenEndpointAuthMethod: oauth.AuthClientSecretPost},
			StaticClient{ID: entClient2, Secret: entSecret2, GrantTypes: []string{oauth.GrantJWTBearer}, TokenEndpointAuthMethod: oauth.AuthClientSecretPost})
	})
	return e, idp
}

func (e *env) jwtBearer(client, secret, assertion string, extra url.Values) tokenResult {
	e.t.Helper()
	f := url.Values{"grant_type": {oauth.GrantJWTBearer}, "assertion": {assertion}, "client_id": {client}, "client_secret": {secret}}
	for k, v := range extra {
		f[k] = v
	}
	return e.call(tokenCall{form: f})
}

// TestIDJAGGrant: an enterprise client redeems an ID-JAG for an access
// token bound to the assertion's resource, with the intersection of the
// requested and asserted scopes that the user may hold; no refresh token.
// Every check of the grant is attacked.
func TestIDJAGGrant(t *testing.T) {
	e, idp := idjagEnv(t)
	md := e.metadata()
	if !slices.Contains(md.GrantTypesSupported, oauth.GrantJWTBearer) || !slices.Contains(md.AuthorizationGrantProfilesSupported, oauth.GrantProfileIDJAG) {
		t.Errorf("metadata does not advertise the ID-JAG grant: %v %v", md.GrantTypesSupported, md.AuthorizationGrantProfilesSupported)
	}

	// Spelled with a line break, which go-jose alone would skip (RFC 7515
	// section 2): refused.
	a := idp.mint(nil)
	if r := e.jwtBearer(entClient, entSecret, a[:12]+"\r\n"+a[12:], nil); r.str("error") != "invalid_grant" {
		t.Errorf("ID-JAG with a line break: %d %s", r.status, r.raw)
	}
	r := e.jwtBearer(entClient, entSecret, idp.mint(nil), nil)
	if r.status != 200 || r.str("refresh_token") != "" || r.str("token_type") != "Bearer" {
		t.Fatalf("ID-JAG grant: %d %s", r.status, r.raw)
	}
	c, err := e.srv.verifyAccessToken(t.Context(), r.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	// An unlinked identity is a derived subject with the base scopes
	// only: the asserted mcp:admin needs the admins group.
	if !strings.HasPrefix(c.Sub, externalSubjectPrefix) || c.Scope != "mcp:tools" || !c.Aud.Contains(resMCP) || len(c.Aud) != 1 || c.ClientID != entClient {
		t.Errorf("claims %+v", c)
	}

	// A user linked to the identity provider's subject, in the admins
	// group, gets mcp:admin too; a request narrows.
	if err := e.store.CreateUser(t.Context(), &storage.User{ID: "u-alice", Issuer: idpIssuer, Subject: "alice@enterprise", Groups: []string{adminGroup}}); err != nil {
		t.Fatal(err)
	}
	r = e.jwtBearer(entClient, entSecret, idp.mint(nil), nil)
	if c, _ := e.srv.verifyAccessToken(t.Context(), r.str("access_token")); r.status != 200 || c == nil || c.Sub != "u-alice" || c.Scope != "mcp:tools mcp:admin" {
		t.Errorf("linked admin: %d %s", r.status, r.raw)
	}
	r = e.jwtBearer(entClient, entSecret, idp.mint(nil), url.Values{"scope": {"mcp:admin other:read"}})
	if r.status != 200 || r.str("scope") != "mcp:admin" {
		t.Errorf("a request scope is intersected with the assertion's: %d %s", r.status, r.raw)
	}

	rsKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: rsKey, KeyID: "idp-1"}}, (&jose.SignerOptions{}).WithType(typIDJAG))
	forgedTok, _ := jwt.Signed(forged).Claims(idjagClaims{Claims: jwt.Claims{Issuer: idpIssuer, Subject: "alice@enterprise", Audience: jwt.Audience{e.srv.issuer},
		Expiry: jwt.NewNumericDate(e.clock.Now().Add(time.Minute)), IssuedAt: jwt.NewNumericDate(e.clock.Now()), ID: "forged"}, ClientID: entClient, Resource: resMCP}).Serialize()
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(strings.Repeat("k", 32))}, (&jose.SignerOptions{}).WithType(typIDJAG))
	hsTok, _ := jwt.Signed(hs).Claims(idjagClaims{Claims: jwt.Claims{Issuer: idpIssuer, Subject: "alice@enterprise", Audience: jwt.Audience{e.srv.issuer},
		Expiry: jwt.NewNumericDate(e.clock.Now().Add(time.Minute)), IssuedAt: jwt.NewNumericDate(e.clock.Now()), ID: "hs"}, ClientID: entClient, Resource: resMCP}).Serialize()
	replayed := idp.mint(nil)
	if r := e.jwtBearer(entClient, entSecret, replayed, nil); r.status != 200 {
		t.Fatalf("first use: %d %s", r.status, r.raw)
	}
	now := e.clock.Now()
	for _, a := range []struct {
		name, client, secret, assertion string
		extra                           url.Values
		status                          int
		code                            string
	}{
		{"replayed jti", entClient, entSecret, replayed, nil, 400, "invalid_grant"},
		{"wrong typ", entClient, entSecret, idp.mint(nil, func(o *jose.SignerOptions) { o.WithType("JWT") }), nil, 400, "invalid_grant"},
		{"no typ", entClient, entSecret, idp.mint(nil, func(o *jose.SignerOptions) { delete(o.ExtraHeaders, jose.HeaderType) }), nil, 400, "invalid_grant"},
		{"signed by another key", entClient, entSecret, forgedTok, nil, 400, "invalid_grant"},
		{"HS256", entClient, entSecret, hsTok, nil, 400, "invalid_grant"},
		{"alg none", entClient, entSecret, "eyJhbGciOiJub25lIiwidHlwIjoib2F1dGgtaWQtamFnK2p3dCJ9." + strings.Split(idp.mint(nil), ".")[1] + ".", nil, 400, "invalid_grant"},
		{"untrusted issuer", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Issuer = "https://evil.example" }), nil, 400, "invalid_grant"},
		{"this server as issuer", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Issuer = e.srv.issuer }), nil, 400, "invalid_grant"},
		{"aud another server", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Audience = jwt.Audience{"https://other-as.example"} }), nil, 400, "invalid_grant"},
		{"aud two values", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Audience = append(c.Audience, "https://other-as.example") }), nil, 400, "invalid_grant"},
		{"issued to another client", entClient2, entSecret2, idp.mint(nil), nil, 400, "invalid_grant"},
		{"resource not ours", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Resource = "https://elsewhere.example/mcp" }), nil, 400, "invalid_grant"},
		{"request resource differs", entClient, entSecret, idp.mint(nil), url.Values{"resource": {resOther}}, 400, "invalid_target"},
		{"expired", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Second)) }), nil, 400, "invalid_grant"},
		{"issued in the future", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(5 * time.Minute)) }), nil, 400, "invalid_grant"},
		{"no iat", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.IssuedAt = nil }), nil, 400, "invalid_grant"},
		{"lifetime too long", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Expiry = jwt.NewNumericDate(now.Add(2 * time.Hour)) }), nil, 400, "invalid_grant"},
		{"no jti", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.ID = "" }), nil, 400, "invalid_grant"},
		{"no sub", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Subject = "" }), nil, 400, "invalid_grant"},
		{"no assertion", entClient, entSecret, "", nil, 400, "invalid_request"},
		{"garbage", entClient, entSecret, "not.a.jwt", nil, 400, "invalid_grant"},
		{"wrong client secret", entClient, "wrong-secret-0123456789abcdefghijkl", idp.mint(nil), nil, 401, "invalid_client"},
		{"client not registered for the grant", confClient, confSecret, idp.mint(func(c *idjagClaims) { c.ClientID = confClient }), nil, 400, "unauthorized_client"},
		{"scope beyond the assertion", entClient, entSecret, idp.mint(func(c *idjagClaims) { c.Scope = "mcp:admin" }), url.Values{"scope": {"mcp:tools"}}, 400, "invalid_scope"},
	} {
		var r tokenResult
		if a.client == confClient {
			f := url.Values{"grant_type": {oauth.GrantJWTBearer}, "assertion": {a.assertion}}
			r = e.call(tokenCall{form: f, basic: [2]string{confClient, confSecret}})
		} else {
			r = e.jwtBearer(a.client, a.secret, a.assertion, a.extra)
		}
		if r.status != a.status || r.str("error") != a.code {
			t.Errorf("%s: %d %s, want %d %s", a.name, r.status, r.raw, a.status, a.code)
		}
	}

	// A disabled linked user gets nothing.
	u, _ := e.store.GetUser(t.Context(), "u-alice")
	u.Disabled = true
	if err := e.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	if r := e.jwtBearer(entClient, entSecret, idp.mint(nil), nil); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("disabled user: %d %s", r.status, r.raw)
	}
}

// TestIDJAGRegistration: the grant needs a confidential client, and a
// public client cannot register for it.
func TestIDJAGRegistration(t *testing.T) {
	e, _ := idjagEnv(t)
	if r := e.register(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:jwt-bearer"]}`, nil); r.status != 400 || r.str("error") != "invalid_client_metadata" {
		t.Errorf("public client registering for the grant: %d %s", r.status, r.raw)
	}
}

// TestIDJAGOff: without identity providers the grant does not exist.
func TestIDJAGOff(t *testing.T) {
	e := newEnv(t, nil)
	if slices.Contains(e.metadata().GrantTypesSupported, oauth.GrantJWTBearer) {
		t.Error("jwt-bearer advertised without identity providers")
	}
	r := e.call(tokenCall{form: url.Values{"grant_type": {oauth.GrantJWTBearer}, "assertion": {"x.y.z"}}, basic: [2]string{confClient, confSecret}})
	if r.status != 400 || r.str("error") != "unsupported_grant_type" {
		t.Errorf("grant without identity providers: %d %s", r.status, r.raw)
	}
}

func (e *env) metadata() oauth.ServerMetadata {
	e.t.Helper()
	return e.srv.serverMetadata()
}
