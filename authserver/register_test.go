package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

func (e *env) register(body string, header map[string]string) tokenResult {
	return e.call(tokenCall{path: e.srv.endpoints.register, raw: body, ctype: "application/json", header: header})
}

func TestRegistration(t *testing.T) {
	e := newEnv(t, nil)
	r := e.register(`{"client_name":"My Client","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"application_type":"native","x_ext":1}`, nil)
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	id := r.str("client_id")
	if !strings.HasPrefix(id, "mcpf_") || r.str("client_secret") != "" || r.str("registration_access_token") == "" {
		t.Errorf("registration response %v", r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Error("registration response cacheable")
	}
	// The registered client completes a flow, with a loopback port chosen now.
	b := e.browser()
	v, c := pkce()
	p := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1:61000/cb"},
		"code_challenge": {c}, "code_challenge_method": {"S256"}}
	q := e.authorize(b, p)
	tok := e.call(tokenCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {v},
		"client_id": {id}, "redirect_uri": {"http://127.0.0.1:61000/cb"}}})
	if tok.status != 200 {
		t.Fatalf("token: %s", tok.raw)
	}
	stored, _ := e.store.GetClient(t.Context(), id)
	if stored.LastUsedAt.IsZero() {
		t.Error("use not recorded")
	}

	// Confidential registration gets a secret, stored hashed.
	r = e.register(`{"client_name":"Web","redirect_uris":["https://web.example/cb"]}`, nil)
	if r.status != 201 || r.str("client_secret") == "" || r.str("token_endpoint_auth_method") != "client_secret_basic" {
		t.Fatalf("confidential: %d %s", r.status, r.raw)
	}
	if exp, ok := r.body["client_secret_expires_at"]; !ok || exp != float64(0) {
		t.Errorf("client_secret_expires_at %v", exp)
	}
	stored, _ = e.store.GetClient(t.Context(), r.str("client_id"))
	if strings.Contains(fmt.Sprint(stored), r.str("client_secret")) {
		t.Error("secret stored in clear")
	}

	// RFC 7592 management.
	regURI, rat := r.str("registration_client_uri"), r.str("registration_access_token")
	regPath := strings.TrimPrefix(regURI, e.srv.origin)
	manage := func(method, token, body string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(method, e.url(regPath), strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal([]byte(readBody(t, resp)), &m)
		return resp.StatusCode, m, resp.Header
	}
	if s, m, _ := manage("GET", rat, ""); s != 200 || m["client_name"] != "Web" || m["client_secret"] != nil {
		t.Errorf("read: %d %v", s, m)
	}
	for name, tok := range map[string]string{"no token": "", "wrong token": "x" + rat, "other client's token": r.str("client_id")} {
		if s, _, h := manage("GET", tok, ""); s != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s: %d", name, s)
		}
	}
	if s, _, _ := manage("PUT", rat, `{"client_id":"someone-else","redirect_uris":["https://web.example/cb"]}`); s != 400 {
		t.Errorf("update of another client_id: %d", s)
	}
	if s, _, _ := manage("PUT", rat, fmt.Sprintf(`{"client_id":%q,"client_secret":"chosen-by-client","redirect_uris":["https://web.example/cb"]}`, r.str("client_id"))); s != 400 {
		t.Errorf("update with a self-chosen secret: %d", s)
	}
	s, m, _ := manage("PUT", rat, fmt.Sprintf(`{"client_id":%q,"client_secret":%q,"client_name":"Renamed","redirect_uris":["https://web.example/cb2"]}`, r.str("client_id"), r.str("client_secret")))
	if s != 200 || m["client_name"] != "Renamed" || m["registration_access_token"] == nil || m["registration_access_token"] == rat {
		t.Fatalf("update: %d %v", s, m)
	}
	newRAT := m["registration_access_token"].(string)
	if s, _, _ := manage("GET", rat, ""); s != 401 {
		t.Error("old registration token still valid after rotation")
	}
	if s, _, _ := manage("DELETE", newRAT, ""); s != 204 {
		t.Errorf("delete: %d", s)
	}
	if s, _, _ := manage("GET", newRAT, ""); s != 401 {
		t.Errorf("read after delete: %d", s)
	}
}

func TestRegistrationHostile(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Registration.RateLimit = 1000 })
	tests := []struct {
		name  string
		body  string
		ctype string
		code  string
	}{
		{"not json", `client_name=x`, "", "invalid_client_metadata"},
		{"wrong media type", `{}`, "text/plain", "invalid_client_metadata"},
		{"array", `[]`, "", "invalid_client_metadata"},
		{"duplicate member", `{"redirect_uris":["https://a.example/cb"],"redirect_uris":["https://evil.example/cb"]}`, "", "invalid_client_metadata"},
		{"no redirect", `{"client_name":"x"}`, "", "invalid_redirect_uri"},
		{"http remote redirect", `{"redirect_uris":["http://a.example/cb"]}`, "", "invalid_redirect_uri"},
		{"javascript redirect", `{"redirect_uris":["javascript:alert(1)"]}`, "", "invalid_redirect_uri"},
		{"custom scheme", `{"redirect_uris":["com.example.app:/cb"]}`, "", "invalid_redirect_uri"},
		{"fragment", `{"redirect_uris":["https://a.example/cb#x"]}`, "", "invalid_redirect_uri"},
		{"relative", `{"redirect_uris":["/cb"]}`, "", "invalid_redirect_uri"},
		{"userinfo", `{"redirect_uris":["https://u:p@a.example/cb"]}`, "", "invalid_redirect_uri"},
		{"too many", `{"redirect_uris":[` + strings.Repeat(`"https://a.example/cb",`, 20) + `"https://a.example/cb"]}`, "", "invalid_redirect_uri"},
		{"web with loopback", `{"redirect_uris":["http://127.0.0.1/cb"],"application_type":"web"}`, "", "invalid_redirect_uri"},
		{"bad application_type", `{"redirect_uris":["https://a.example/cb"],"application_type":"tv"}`, "", "invalid_client_metadata"},
		{"implicit", `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, "", "invalid_client_metadata"},
		{"password grant", `{"redirect_uris":["https://a.example/cb"],"grant_types":["password"]}`, "", "invalid_client_metadata"},
		{"public client_credentials", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"none"}`, "", "invalid_client_metadata"},
		{"token exchange", `{"grant_types":["urn:ietf:params:oauth:grant-type:token-exchange"]}`, "", "invalid_client_metadata"},
		{"unknown auth method", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"tls_client_auth"}`, "", "invalid_client_metadata"},
		{"pkjwt without keys", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "", "invalid_client_metadata"},
		{"symmetric jwks", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"oct","k":"AAAA"}]}}`, "", "invalid_client_metadata"},
		{"http jwks_uri", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"http://a.example/jwks"}`, "", "invalid_client_metadata"},
		{"http logo", `{"redirect_uris":["https://a.example/cb"],"logo_uri":"http://a.example/l.png"}`, "", "invalid_client_metadata"},
		{"long name", `{"redirect_uris":["https://a.example/cb"],"client_name":"` + strings.Repeat("n", 300) + `"}`, "", "invalid_client_metadata"},
		{"control in name", `{"redirect_uris":["https://a.example/cb"],"client_name":"a\u0007b"}`, "", "invalid_client_metadata"},
		{"wrong type", `{"redirect_uris":"https://a.example/cb"}`, "", "invalid_client_metadata"},
		{"bad scope", `{"redirect_uris":["https://a.example/cb"],"scope":"a\"b"}`, "", "invalid_client_metadata"},
		{"oversized", `{"client_name":"` + strings.Repeat("a", maxRegistrationBytes) + `"}`, "", "invalid_client_metadata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := tt.ctype
			if ct == "" {
				ct = "application/json"
			}
			r := e.call(tokenCall{path: e.srv.endpoints.register, raw: tt.body, ctype: ct})
			if r.status < 400 || r.status >= 500 || r.str("error") != tt.code {
				t.Errorf("got %d %s, want %s", r.status, r.raw, tt.code)
			}
		})
	}
}

func TestRegistrationRateLimitAndExpiry(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Registration.RateLimit = 2 })
	body := `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`
	var ids []string
	for i := range 2 {
		r := e.register(body, nil)
		if r.status != 201 {
			t.Fatalf("registration %d: %s", i, r.raw)
		}
		ids = append(ids, r.str("client_id"))
	}
	r := e.register(body, nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("over the limit: %d %s", r.status, r.raw)
	}
	// Unused registrations expire after UnusedTTL; a used one stays.
	if err := e.store.TouchClient(t.Context(), ids[1], e.clock.Now(), 0); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(25 * time.Hour)
	if err := e.srv.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetClient(t.Context(), ids[0]); err != storage.ErrNotFound {
		t.Errorf("unused registration kept: %v", err)
	}
	if _, err := e.store.GetClient(t.Context(), ids[1]); err != nil {
		t.Errorf("used registration removed: %v", err)
	}
	// The window has passed: registration is open again.
	if r := e.register(body, nil); r.status != 201 {
		t.Errorf("after the window: %d", r.status)
	}
}

// TestPrivateKeyJWT: a client authenticating with a signed assertion
// (RFC 7523), including replay, audience, lifetime and key checks.
func TestPrivateKeyJWT(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := jose.JSONWebKey{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	e := newEnv(t, func(o *Options) {
		o.Clients = append(o.Clients, StaticClient{ID: "m2m", TokenEndpointAuthMethod: oauth.AuthPrivateKeyJWT, JWKS: string(jwks),
			GrantTypes: []string{oauth.GrantClientCredentials}, Resources: []string{resMCP}, Scopes: []string{"mcp:tools"}})
	})
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: otherKey, KeyID: "k1"}}, nil)
	now := e.clock.Now()
	assertion := func(s jose.Signer, mod func(*jwt.Claims)) string {
		c := jwt.Claims{Issuer: "m2m", Subject: "m2m", Audience: jwt.Audience{e.srv.issuer}, Expiry: jwt.NewNumericDate(now.Add(time.Minute)),
			IssuedAt: jwt.NewNumericDate(now), ID: rand.Text()}
		if mod != nil {
			mod(&c)
		}
		tok, err := jwt.Signed(s).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cc := func(a string) tokenResult {
		return e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {oauth.ClientAssertionTypeJWTBearer}, "client_assertion": {a}}})
	}
	good := assertion(signer, nil)
	if r := cc(good); r.status != 200 {
		t.Fatalf("valid assertion: %s", r.raw)
	}
	if r := cc(good); r.status != 401 {
		t.Errorf("replayed assertion: %d %s", r.status, r.raw)
	}
	tokenAud := e.srv.origin + e.srv.endpoints.token
	for name, tt := range map[string]struct {
		a    string
		want int
	}{
		"token endpoint audience": {assertion(signer, func(c *jwt.Claims) { c.Audience = jwt.Audience{tokenAud} }), 200},
		"wrong key":               {assertion(otherSigner, nil), 401},
		// Spelled with a line break, which go-jose alone would skip (RFC
		// 7515 section 2).
		"line break":      {func(a string) string { return a[:12] + "\r\n" + a[12:] }(assertion(signer, nil)), 401},
		"wrong audience":  {assertion(signer, func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://other.example"} }), 401},
		"expired":         {assertion(signer, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Second)) }), 401},
		"too long lived":  {assertion(signer, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(time.Hour)) }), 401},
		"no expiry":       {assertion(signer, func(c *jwt.Claims) { c.Expiry = nil }), 401},
		"no jti":          {assertion(signer, func(c *jwt.Claims) { c.ID = "" }), 401},
		"iss differs":     {assertion(signer, func(c *jwt.Claims) { c.Issuer = "other" }), 401},
		"unknown subject": {assertion(signer, func(c *jwt.Claims) { c.Subject, c.Issuer = "nope", "nope" }), 401},
		"future iat":      {assertion(signer, func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) }), 401},
	} {
		t.Run(name, func(t *testing.T) {
			if r := cc(tt.a); r.status != tt.want {
				t.Errorf("got %d %s, want %d", r.status, r.raw, tt.want)
			}
		})
	}
	// "alg": "none" and HMAC are refused before any key lookup.
	none := "eyJhbGciOiJub25lIn0." + strings.Split(good, ".")[1] + "."
	if r := cc(none); r.status != 401 {
		t.Errorf("alg none: %d", r.status)
	}
}

// TestCIMDFlow: a client identified by a metadata document URL, served
// by a local TLS server, completes the flow; the consent page names its
// host and warns about its localhost-only redirects.
func TestCIMDFlow(t *testing.T) {
	var hits atomic.Int64
	var docURL string
	doc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		switch r.URL.Path {
		case "/client.json":
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"Doc Client","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`, docURL)
		case "/secret.json":
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"Bad","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, docURL[:len(docURL)-len("client.json")]+"secret.json")
		default:
			http.NotFound(w, r)
		}
	}))
	defer doc.Close()
	docURL = doc.URL + "/client.json"
	pool := doc.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	e := newEnv(t, func(o *Options) { o.CIMD.RootCAs = pool })
	b := e.browser()
	v, c := pkce()
	p := url.Values{"response_type": {"code"}, "client_id": {docURL}, "redirect_uri": {"http://127.0.0.1:5999/cb"},
		"code_challenge": {c}, "code_challenge_method": {"S256"}, "state": {"s1"}}
	resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	csrf, req := formFields(t, readBody(t, resp))
	resp = e.post(b, e.srv.endpoints.login, url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {userPass}})
	body := readBody(t, resp)
	host := strings.TrimPrefix(doc.URL, "https://")
	if !strings.Contains(body, "Doc Client") || !strings.Contains(body, host) || !strings.Contains(body, "Any program running on your computer") {
		t.Errorf("consent page does not identify the document client:\n%s", body)
	}
	q := e.authorize(b, p)
	tok := e.call(tokenCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {v},
		"client_id": {docURL}, "redirect_uri": {"http://127.0.0.1:5999/cb"}}})
	if tok.status != 200 || tok.str("refresh_token") == "" {
		t.Fatalf("token: %s", tok.raw)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("document fetched %d times, want 1 (cached)", n)
	}
	// Localhost-only document clients are always asked, even with consent
	// on record.
	_, c2 := pkce()
	p.Set("code_challenge", c2)
	resp, _ = b.Get(e.url(e.srv.endpoints.authorize) + "?" + p.Encode())
	if body := readBody(t, resp); !strings.Contains(body, `name="decision"`) {
		t.Error("localhost-only document client skipped consent")
	}
	// Documents that fail validation are refused on a page.
	for name, id := range map[string]string{
		"shared secret":    doc.URL + "/secret.json",
		"missing document": doc.URL + "/missing.json",
		"http":             strings.Replace(docURL, "https", "http", 1),
	} {
		p.Set("client_id", id)
		resp, _ := b.Get(e.url(e.srv.endpoints.authorize) + "?" + p.Encode())
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// failingLimiter stands for a shared limiter whose store is down.
type failingLimiter struct{}

func (failingLimiter) Take(context.Context, string, int, time.Duration) (bool, time.Duration, error) {
	return false, 0, errors.New("redis: connection refused")
}
func (failingLimiter) Refund(context.Context, string) error {
	return errors.New("redis: connection refused")
}

// TestCustomLimiterFailsClosed: a supplied limiter replaces the in-memory
// one, and its errors refuse the request without leaking the cause.
func TestCustomLimiterFailsClosed(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RateLimiter = failingLimiter{} })
	r := e.register(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`, nil)
	// Refused as the server's fault (503, retry soon), not the client's
	// (429), and without the cause.
	if r.status != http.StatusServiceUnavailable || r.str("error") != "temporarily_unavailable" || strings.Contains(r.raw, "redis") {
		t.Errorf("registration with a failing limiter: %d %s", r.status, r.raw)
	}
	b := e.browser()
	_, c := pkce()
	resp, _ := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	csrf, req := formFields(t, readBody(t, resp))
	resp = e.post(b, e.srv.endpoints.login, url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {userPass}})
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || strings.Contains(body, "redis") {
		t.Errorf("sign-in with a failing limiter: %d %s", resp.StatusCode, body)
	}
}
