package authserver

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

func newKey(t *testing.T) *resourceservertest.DPoPKey {
	t.Helper()
	k, err := resourceservertest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// tokenProof is a proof for the token endpoint at the server's clock.
func (e *env) tokenProof(k *resourceservertest.DPoPKey, mod func(*resourceservertest.Proof)) string {
	e.t.Helper()
	p := resourceservertest.Proof{Method: http.MethodPost, URL: e.url(e.srv.endpoints.token), IssuedAt: e.clock.Now()}
	if mod != nil {
		mod(&p)
	}
	s, err := k.Proof(p)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// jwtClaims decodes a JWT's claims without verifying it.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func boundTo(t *testing.T, tok string) string {
	t.Helper()
	cnf, _ := jwtClaims(t, tok)["cnf"].(map[string]any)
	s, _ := cnf["jkt"].(string)
	return s
}

// dpopLogin runs the code flow for the public client and redeems the code
// with the header.
func (e *env) dpopLogin(header map[string]string) tokenResult {
	e.t.Helper()
	v, c := pkce()
	p := authzParams(c)
	p.Set("scope", "mcp:tools offline_access")
	q := e.authorize(e.browser(), p)
	return e.call(tokenCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {v},
		"client_id": {publicClient}, "redirect_uri": {"http://127.0.0.1:4567/callback"}}, header: header})
}

func (e *env) refreshWith(rt string, header map[string]string) tokenResult {
	e.t.Helper()
	return e.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicClient}}, header: header})
}

// TestDPoPBoundTokens: a token request with a proof gets DPoP-bound tokens
// (RFC 9449 section 5), and a public client's refresh token is usable
// only with a proof of the same key: a stolen refresh token, without the
// key or with the thief's key, is refused and the family survives.
func TestDPoPBoundTokens(t *testing.T) {
	e := newEnv(t, nil)
	key, thief := newKey(t), newKey(t)
	res := e.dpopLogin(map[string]string{"DPoP": e.tokenProof(key, nil)})
	if res.status != 200 || res.str("token_type") != "DPoP" || boundTo(t, res.str("access_token")) != key.JKT || res.str("refresh_token") == "" {
		t.Fatalf("code redemption with a proof: %d %s", res.status, res.raw)
	}
	if in := e.introspect(res.str("access_token")); in["token_type"] != "DPoP" || in["cnf"] == nil {
		t.Errorf("introspection of a bound token: %v", in)
	}
	rt := res.str("refresh_token")
	if r := e.refreshWith(rt, nil); r.status != 400 || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("bound refresh token without a proof: %d %s", r.status, r.raw)
	}
	if r := e.refreshWith(rt, map[string]string{"DPoP": e.tokenProof(thief, nil)}); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("bound refresh token with another key: %d %s", r.status, r.raw)
	}
	r := e.refreshWith(rt, map[string]string{"DPoP": e.tokenProof(key, nil)})
	if r.status != 200 || r.str("token_type") != "DPoP" || boundTo(t, r.str("access_token")) != key.JKT {
		t.Fatalf("refresh with the key: %d %s", r.status, r.raw)
	}
	if r2 := e.refreshWith(r.str("refresh_token"), map[string]string{"DPoP": e.tokenProof(thief, nil)}); r2.status != 400 {
		t.Errorf("the rotated refresh token lost its binding: %d %s", r2.status, r2.raw)
	}

	// Without a proof nothing is bound.
	plain := e.dpopLogin(nil)
	if plain.status != 200 || plain.str("token_type") != "Bearer" || boundTo(t, plain.str("access_token")) != "" {
		t.Errorf("without a proof: %d %s", plain.status, plain.raw)
	}

	// A confidential client's client-credentials token is bound too.
	cc := e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "resource": {resMCP}}, basic: [2]string{confClient, confSecret},
		header: map[string]string{"DPoP": e.tokenProof(key, nil)}})
	if cc.status != 200 || cc.str("token_type") != "DPoP" || boundTo(t, cc.str("access_token")) != key.JKT {
		t.Errorf("client credentials with a proof: %d %s", cc.status, cc.raw)
	}
}

// TestDPoPTokenEndpointRefusesBadProofs: each RFC 9449 section 4.3 check
// at the token endpoint.
func TestDPoPTokenEndpointRefusesBadProofs(t *testing.T) {
	e := newEnv(t, nil)
	key := newKey(t)
	cc := func(h map[string]string) tokenResult {
		return e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "resource": {resMCP}}, basic: [2]string{confClient, confSecret}, header: h})
	}
	replayed := e.tokenProof(key, nil)
	if r := cc(map[string]string{"DPoP": replayed}); r.status != 200 {
		t.Fatalf("valid proof: %d %s", r.status, r.raw)
	}
	cases := map[string]string{
		"replayed jti":   replayed,
		"another URL":    e.tokenProof(key, func(p *resourceservertest.Proof) { p.URL = e.url(e.srv.endpoints.introspect) }),
		"another method": e.tokenProof(key, func(p *resourceservertest.Proof) { p.Method = "GET" }),
		"stale iat":      e.tokenProof(key, func(p *resourceservertest.Proof) { p.IssuedAt = e.clock.Now().Add(-10 * time.Minute) }),
		"garbage":        "not.a.proof",
	}
	for name, proof := range cases {
		if r := cc(map[string]string{"DPoP": proof}); r.status != 400 || r.str("error") != "invalid_dpop_proof" {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	// Two DPoP headers.
	req, _ := http.NewRequest("POST", e.url(e.srv.endpoints.token), strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "resource": {resMCP}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(confClient, confSecret)
	req.Header.Add("DPoP", e.tokenProof(key, nil))
	req.Header.Add("DPoP", e.tokenProof(key, nil))
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("two proofs: %d", resp.StatusCode)
	}
}

// TestDPoPNonce: with nonces required, a proof without one is answered
// use_dpop_nonce with a DPoP-Nonce header (RFC 9449 section 8), the retry
// with it succeeds, and a forged or expired nonce is refused.
func TestDPoPNonce(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DPoP.RequireNonce = true })
	key := newKey(t)
	cc := func(nonce string) tokenResult {
		return e.call(tokenCall{form: url.Values{"grant_type": {"client_credentials"}, "resource": {resMCP}}, basic: [2]string{confClient, confSecret},
			header: map[string]string{"DPoP": e.tokenProof(key, func(p *resourceservertest.Proof) { p.Nonce = nonce })}})
	}
	r := cc("")
	nonce := r.header.Get("DPoP-Nonce")
	if r.status != 400 || r.str("error") != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("no nonce: %d %s %q", r.status, r.raw, nonce)
	}
	r = cc(nonce)
	if r.status != 200 || r.str("token_type") != "DPoP" {
		t.Fatalf("with the nonce: %d %s", r.status, r.raw)
	}
	// Section 8.2: the success carries the next nonce, which works.
	next := r.header.Get("DPoP-Nonce")
	if next == "" {
		t.Fatal("a successful token response carries no fresh DPoP-Nonce")
	}
	if r := cc(next); r.status != 200 {
		t.Errorf("with the nonce from the success: %d %s", r.status, r.raw)
	}
	if r := cc(nonce[:len(nonce)-2] + "AA"); r.status != 400 || r.str("error") != "use_dpop_nonce" {
		t.Errorf("forged nonce: %d %s", r.status, r.raw)
	}
	e.clock.Advance(6 * time.Minute)
	if r := cc(nonce); r.status != 400 || r.str("error") != "use_dpop_nonce" || r.header.Get("DPoP-Nonce") == "" {
		t.Errorf("expired nonce: %d %s", r.status, r.raw)
	}
}

func TestDPoPMetadata(t *testing.T) {
	var m oauth.ServerMetadata
	if err := json.Unmarshal(newEnv(t, nil).srv.metadata, &m); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(m.DPoPSigningAlgValuesSupported, "ES256") || slices.Contains(m.DPoPSigningAlgValuesSupported, "HS256") {
		t.Errorf("dpop_signing_alg_values_supported: %v", m.DPoPSigningAlgValuesSupported)
	}
}

// TestDPoPCodeBinding: a code requested with dpop_jkt (RFC 9449 section
// 10) is redeemed only with a proof of that key; an intercepted code is
// useless without it, and the failed attempts do not burn it.
func TestDPoPCodeBinding(t *testing.T) {
	e := newEnv(t, nil)
	key, thief := newKey(t), newKey(t)
	v, c := pkce()
	p := authzParams(c)
	p.Set("dpop_jkt", key.JKT)
	q := e.authorize(e.browser(), p)
	redeem := func(h map[string]string) tokenResult {
		return e.call(tokenCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {v},
			"client_id": {publicClient}, "redirect_uri": {"http://127.0.0.1:4567/callback"}}, header: h})
	}
	if r := redeem(nil); r.status != 400 || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("bound code without a proof: %d %s", r.status, r.raw)
	}
	if r := redeem(map[string]string{"DPoP": e.tokenProof(thief, nil)}); r.status != 400 || r.str("error") != "invalid_grant" {
		t.Errorf("bound code with another key: %d %s", r.status, r.raw)
	}
	if r := redeem(map[string]string{"DPoP": e.tokenProof(key, nil)}); r.status != 200 || boundTo(t, r.str("access_token")) != key.JKT {
		t.Errorf("bound code with its key: %d %s", r.status, r.raw)
	}
	p.Set("dpop_jkt", "not-a-thumbprint")
	if q := e.authorize(e.browser(), p); q.Get("error") != "invalid_request" {
		t.Errorf("malformed dpop_jkt: %v", q)
	}
}

// TestDPoPUserinfo: the UserInfo endpoint is a protected resource too: a
// DPoP-bound token is accepted only with the DPoP scheme and a proof of
// its key for this request, never as a bearer token (RFC 9449 section
// 7.1), and a bearer token is not accepted under the DPoP scheme.
func TestDPoPUserinfo(t *testing.T) {
	e := newEnv(t, nil)
	k, thief := newKey(t), newKey(t)
	v, c := pkce()
	p := authzParams(c)
	p.Set("scope", "openid mcp:tools")
	q := e.authorize(e.browser(), p)
	r := e.call(tokenCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {v},
		"client_id": {publicClient}, "redirect_uri": {"http://127.0.0.1:4567/callback"}}, header: map[string]string{"DPoP": e.tokenProof(k, nil)}})
	at := r.str("access_token")
	if r.str("token_type") != "DPoP" || boundTo(t, at) != k.JKT {
		t.Fatalf("not a bound token: %s", r.raw)
	}
	userinfo := func(auth string, key *resourceservertest.DPoPKey, mod func(*resourceservertest.Proof)) int {
		req, _ := http.NewRequest(http.MethodGet, e.url(e.srv.endpoints.userinfo), nil)
		req.Header.Set("Authorization", auth)
		if key != nil {
			pr := resourceservertest.Proof{Method: http.MethodGet, URL: e.url(e.srv.endpoints.userinfo), AccessToken: at, IssuedAt: e.clock.Now()}
			if mod != nil {
				mod(&pr)
			}
			s, err := key.Proof(pr)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("DPoP", s)
		}
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := userinfo("DPoP "+at, k, nil); st != 200 {
		t.Fatalf("bound token with its proof: %d", st)
	}
	for name, st := range map[string]int{
		"as a bearer token":     userinfo("Bearer "+at, nil, nil),
		"without a proof":       userinfo("DPoP "+at, nil, nil),
		"with the thief's key":  userinfo("DPoP "+at, thief, nil),
		"proof for another URL": userinfo("DPoP "+at, k, func(p *resourceservertest.Proof) { p.URL = e.url(e.srv.endpoints.token) }),
		"proof without ath":     userinfo("DPoP "+at, k, func(p *resourceservertest.Proof) { p.AccessToken = "" }),
		"replayed proof":        userinfo("DPoP "+at, k, func(p *resourceservertest.Proof) { p.JTI = "once" }) + userinfo("DPoP "+at, k, func(p *resourceservertest.Proof) { p.JTI = "once" }) - 200,
	} {
		if st != 401 {
			t.Errorf("%s: %d, want 401", name, st)
		}
	}
	// A bearer token under the DPoP scheme.
	plain := e.login(e.browser()).str("access_token")
	at = plain
	if st := userinfo("DPoP "+plain, k, nil); st != 401 {
		t.Errorf("bearer token as DPoP: %d", st)
	}
}

// TestDPoPBoundAccessTokensMetadata: a client registered with
// dpop_bound_access_tokens (RFC 9449 section 5.2) is refused every token
// request without a proof, gets bound tokens with one, and the member must
// be a boolean.
func TestDPoPBoundAccessTokensMetadata(t *testing.T) {
	e := newEnv(t, nil)
	if r := e.register(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","dpop_bound_access_tokens":"yes"}`, nil); r.status != 400 || r.str("error") != "invalid_client_metadata" {
		t.Errorf("non-boolean dpop_bound_access_tokens: %d %s", r.status, r.raw)
	}
	r := e.register(`{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"dpop_bound_access_tokens":true}`, nil)
	if r.status != 201 || r.body["dpop_bound_access_tokens"] != true {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	id := r.str("client_id")
	redeem := func(header map[string]string) tokenResult {
		v, c := pkce()
		p := url.Values{"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1:61001/cb"},
			"code_challenge": {c}, "code_challenge_method": {"S256"}, "resource": {resMCP}}
		q := e.authorize(e.browser(), p)
		return e.call(tokenCall{form: url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "code_verifier": {v},
			"client_id": {id}, "redirect_uri": {"http://127.0.0.1:61001/cb"}}, header: header})
	}
	if r := redeem(nil); r.status != 400 || r.str("error") != "invalid_dpop_proof" {
		t.Errorf("bound client without a proof: %d %s", r.status, r.raw)
	}
	key := newKey(t)
	if r := redeem(map[string]string{"DPoP": e.tokenProof(key, nil)}); r.status != 200 || r.str("token_type") != "DPoP" || boundTo(t, r.str("access_token")) != key.JKT {
		t.Errorf("bound client with a proof: %d %s", r.status, r.raw)
	}
}
