package resourceserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpfort/mcpfort/oauth/dpop"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// dpopEnv is a resource server with DPoP on, fronting a handler that
// records what reaches it.
type dpopEnv struct {
	iss      *testIssuer
	clk      *clock
	srv      *httptest.Server
	resource string
	key      *resourceservertest.DPoPKey
	seen     chan http.Header
}

func newDPoPEnv(t *testing.T, opts *DPoPOptions) *dpopEnv {
	t.Helper()
	e := &dpopEnv{iss: newTestIssuer(t, ""), clk: newClock(), seen: make(chan http.Header, 1)}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.resource = e.srv.URL + "/mcp"
	jv, err := NewJWTVerifier(JWTOptions{Issuer: e.iss.issuer, Audiences: []string{e.resource}, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewCache(jv, CacheOptions{Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if opts != nil {
		opts.Now = e.clk.Now
		if opts.Replay == nil {
			opts.Replay = &dpop.MemoryReplayCache{Now: e.clk.Now}
		}
	}
	mw, err := NewMiddleware(MiddlewareOptions{Verifier: cache, Resource: e.resource, DPoP: opts})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/mcp", mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.seen <- r.Header
		_, _ = io.WriteString(w, `{}`)
	})))
	if e.key, err = resourceservertest.NewDPoPKey(); err != nil {
		t.Fatal(err)
	}
	return e
}

// token signs an access token for the resource, bound to jkt if not empty.
func (e *dpopEnv) token(t *testing.T, jkt string) string {
	t.Helper()
	c := e.iss.claims(e.clk.Now(), e.resource)
	if jkt != "" {
		c["cnf"] = map[string]any{"jkt": jkt}
	}
	return sign(t, e.iss.key("es"), c, nil)
}

func (e *dpopEnv) proof(t *testing.T, p resourceservertest.Proof) string {
	t.Helper()
	if p.Method == "" {
		p.Method = http.MethodPost
	}
	if p.URL == "" {
		p.URL = e.resource
	}
	if p.IssuedAt.IsZero() {
		p.IssuedAt = e.clk.Now()
	}
	s, err := e.key.Proof(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *dpopEnv) do(t *testing.T, method, authz string, proofs ...string) (int, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, e.resource+"?x=1", strings.NewReader(`{}`))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		<-e.seen
	}
	return resp.StatusCode, resp.Header
}

// TestDPoPBoundTokenAsBearer performs the stolen-token attack: a token
// bound to a key (cnf.jkt) presented as a Bearer token, without the key.
// It is refused whether or not the resource server knows DPoP (RFC 9449
// section 7.2).
func TestDPoPBoundTokenAsBearer(t *testing.T) {
	for _, opts := range []*DPoPOptions{nil, {}} {
		e := newDPoPEnv(t, opts)
		tok := e.token(t, e.key.JKT)
		status, h := e.do(t, http.MethodPost, "Bearer "+tok)
		wa := h.Get("WWW-Authenticate")
		// Without DPoP support the challenge stays Bearer.
		if status != 401 || opts != nil && !strings.HasPrefix(wa, "DPoP ") || !strings.Contains(wa, `error="invalid_token"`) {
			t.Errorf("DPoP on: %v: stolen bound token as Bearer: %d %q", opts != nil, status, h.Values("WWW-Authenticate"))
		}
	}
}

func TestDPoPMiddleware(t *testing.T) {
	e := newDPoPEnv(t, &DPoPOptions{})
	tok := e.token(t, e.key.JKT)
	other, err := resourceservertest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	good := e.proof(t, resourceservertest.Proof{AccessToken: tok})
	if status, h := e.do(t, http.MethodPost, "DPoP "+tok, good); status != 200 {
		t.Fatalf("valid proof: %d %q", status, h.Values("WWW-Authenticate"))
	}
	otherProof, _ := other.Proof(resourceservertest.Proof{Method: "POST", URL: e.resource, AccessToken: tok, IssuedAt: e.clk.Now()})
	cases := []struct {
		name   string
		authz  string
		proofs []string
		code   string
	}{
		{"replayed proof", "DPoP " + tok, []string{good}, "invalid_dpop_proof"},
		{"no proof", "DPoP " + tok, nil, "invalid_dpop_proof"},
		{"two proofs", "DPoP " + tok, []string{e.proof(t, resourceservertest.Proof{AccessToken: tok}), e.proof(t, resourceservertest.Proof{AccessToken: tok})}, "invalid_dpop_proof"},
		{"another URL", "DPoP " + tok, []string{e.proof(t, resourceservertest.Proof{AccessToken: tok, URL: e.srv.URL + "/other"})}, "invalid_dpop_proof"},
		{"another method", "DPoP " + tok, []string{e.proof(t, resourceservertest.Proof{AccessToken: tok, Method: "GET"})}, "invalid_dpop_proof"},
		{"stale iat", "DPoP " + tok, []string{e.proof(t, resourceservertest.Proof{AccessToken: tok, IssuedAt: e.clk.Now().Add(-6 * time.Minute)})}, "invalid_dpop_proof"},
		{"future iat", "DPoP " + tok, []string{e.proof(t, resourceservertest.Proof{AccessToken: tok, IssuedAt: e.clk.Now().Add(6 * time.Minute)})}, "invalid_dpop_proof"},
		{"missing ath", "DPoP " + tok, []string{e.proof(t, resourceservertest.Proof{})}, "invalid_dpop_proof"},
		{"ath of another token", "DPoP " + tok, []string{e.proof(t, resourceservertest.Proof{AccessToken: tok + "x"})}, "invalid_dpop_proof"},
		{"wrong key", "DPoP " + tok, []string{otherProof}, "invalid_dpop_proof"},
		{"unbound token with DPoP", "DPoP " + e.token(t, ""), []string{e.proof(t, resourceservertest.Proof{AccessToken: e.token(t, "")})}, "invalid_token"},
	}
	for _, c := range cases {
		status, h := e.do(t, http.MethodPost, c.authz, c.proofs...)
		wa := h.Get("WWW-Authenticate")
		if status != 401 || !strings.HasPrefix(wa, "DPoP ") || !strings.Contains(wa, `error="`+c.code+`"`) || !strings.Contains(wa, `algs="ES256`) {
			t.Errorf("%s: %d %q", c.name, status, h.Values("WWW-Authenticate"))
		}
	}
	// The proof is per request: a cached token validation does not skip it.
	if status, _ := e.do(t, http.MethodPost, "DPoP "+tok); status != 401 {
		t.Errorf("cached token without proof: %d", status)
	}
	// A GET (Streamable HTTP stream) needs a GET proof.
	if status, _ := e.do(t, http.MethodGet, "DPoP "+tok, e.proof(t, resourceservertest.Proof{AccessToken: tok, Method: "GET"})); status != 200 {
		t.Errorf("GET with a GET proof: %d", status)
	}
	// Unbound Bearer tokens still work and get both challenges when refused.
	if status, _ := e.do(t, http.MethodPost, "Bearer "+e.token(t, "")); status != 200 {
		t.Errorf("unbound Bearer token: %d", status)
	}
	if status, h := e.do(t, http.MethodPost, ""); status != 401 || len(h.Values("WWW-Authenticate")) != 2 {
		t.Errorf("no token: %d %q", status, h.Values("WWW-Authenticate"))
	}
}

// TestDPoPProofNotForwarded: neither the token nor the proof goes further
// than the middleware.
func TestDPoPProofNotForwarded(t *testing.T) {
	e := newDPoPEnv(t, &DPoPOptions{})
	tok := e.token(t, e.key.JKT)
	req, _ := http.NewRequest(http.MethodPost, e.resource, strings.NewReader(`{}`))
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", e.proof(t, resourceservertest.Proof{AccessToken: tok}))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := <-e.seen
	if h.Get("Authorization") != "" || h.Get("DPoP") != "" {
		t.Errorf("forwarded: %v", h)
	}
}

func TestDPoPRequired(t *testing.T) {
	e := newDPoPEnv(t, &DPoPOptions{Required: true})
	status, h := e.do(t, http.MethodPost, "Bearer "+e.token(t, ""))
	if status != 401 || len(h.Values("WWW-Authenticate")) != 1 || !strings.HasPrefix(h.Get("WWW-Authenticate"), "DPoP ") {
		t.Errorf("Bearer on a DPoP-only resource: %d %q", status, h.Values("WWW-Authenticate"))
	}
	tok := e.token(t, e.key.JKT)
	if status, _ := e.do(t, http.MethodPost, "dpop "+tok, e.proof(t, resourceservertest.Proof{AccessToken: tok})); status != 200 {
		t.Errorf("DPoP (scheme in lower case): %d", status)
	}
}

// rawProof builds a proof by hand, for the algorithm attacks go-jose
// refuses to sign.
func rawProof(t *testing.T, alg string, pub *ecdsa.PublicKey, claims map[string]any, sign func(string) string) string {
	t.Helper()
	jwk, err := json.Marshal(jose.JSONWebKey{Key: pub})
	if err != nil {
		t.Fatal(err)
	}
	h := `{"typ":"dpop+jwt","alg":"` + alg + `","jwk":` + string(jwk) + `}`
	in := b64(h) + "." + b64(mustJSON(t, claims))
	return in + "." + sign(in)
}

func TestParseDPoPProofAttacks(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: &priv.PublicKey})
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: priv})
	claims := map[string]any{"jti": "j", "htm": "POST", "htu": "https://rs.example/mcp", "iat": time.Now().Unix()}
	cases := map[string]string{
		"alg none": rawProof(t, "none", &priv.PublicKey, claims, func(string) string { return "" }),
		"HS256 keyed with the public key": rawProof(t, "HS256", &priv.PublicKey, claims, func(in string) string {
			return strings.Split(hs256(`{}`, `{}`, pubJWK), ".")[2]
		}),
		"private key in jwk": func() string {
			in := b64(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+string(privJWK)+`}`) + "." + b64(mustJSON(t, claims))
			return in + ".AAAA"
		}(),
		"wrong typ": func() string {
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{EmbedJWK: true}).WithType("JWT"))
			j, _ := s.Sign([]byte(mustJSON(t, claims)))
			out, _ := j.CompactSerialize()
			return out
		}(),
		"no jwk": func() string {
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithType("dpop+jwt"))
			j, _ := s.Sign([]byte(mustJSON(t, claims)))
			out, _ := j.CompactSerialize()
			return out
		}(),
		"missing jti": func() string {
			k := &resourceservertest.DPoPKey{Private: priv}
			out, _ := k.Proof(resourceservertest.Proof{Method: "POST", URL: "https://rs.example/mcp", Claims: map[string]any{"jti": ""}})
			return out
		}(),
		"iat a string": func() string {
			k := &resourceservertest.DPoPKey{Private: priv}
			out, _ := k.Proof(resourceservertest.Proof{Method: "POST", URL: "https://rs.example/mcp", Claims: map[string]any{"iat": "now"}})
			return out
		}(),
	}
	for name, p := range cases {
		if _, err := dpop.Parse(p, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// HS256 is never accepted, even if configured.
	hs := rawProof(t, "HS256", &priv.PublicKey, claims, func(string) string { return "AAAA" })
	if _, err := dpop.Parse(hs, []string{"HS256", "ES256"}); err == nil {
		t.Error("HS256 accepted when listed")
	}
}

func TestMemoryReplayCacheBounded(t *testing.T) {
	clk := newClock()
	m := &dpop.MemoryReplayCache{Max: 2, Now: clk.Now}
	ctx := t.Context()
	exp := clk.Now().Add(time.Minute)
	for _, k := range []string{"a", "b"} {
		if ok, err := m.Add(ctx, k, exp); !ok || err != nil {
			t.Fatal(k, ok, err)
		}
	}
	if ok, _ := m.Add(ctx, "a", exp); ok {
		t.Error("replay accepted")
	}
	if _, err := m.Add(ctx, "c", exp); err == nil {
		t.Errorf("full cache: %v", err)
	}
	clk.Add(2 * time.Minute)
	if ok, err := m.Add(ctx, "c", clk.Now().Add(time.Minute)); !ok || err != nil {
		t.Errorf("after expiry: %v %v", ok, err)
	}
}

func TestDPoPMetadata(t *testing.T) {
	h, err := NewMetadataHandler(MetadataOptions{Resource: "https://rs.example/mcp", AuthorizationServers: []string{"https://as.example"},
		DPoP: &DPoPOptions{Required: true}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", h.Paths()[0], nil))
	var m Metadata
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if !m.DPoPBoundAccessTokensRequired || len(m.DPoPSigningAlgValuesSupported) == 0 || m.DPoPSigningAlgValuesSupported[0] != "ES256" {
		t.Errorf("metadata: %+v", m)
	}
}

// TestDPoPResourceNonces: with nonces on (RFC 9449 section 9), a proof
// without a nonce, with a forged one or with another resource's is
// answered 401 use_dpop_nonce with a DPoP-Nonce header; the retry with
// that nonce passes and its response carries the next nonce, which works
// too; an expired nonce is refused again.
func TestDPoPResourceNonces(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	opts := &DPoPOptions{}
	e := newDPoPEnv(t, opts)
	nonces, err := dpop.NewNonces(dpop.NoncesOptions{Secrets: [][]byte{secret}, Purpose: e.resource, Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	opts.Nonces = nonces
	tok := e.token(t, e.key.JKT)
	call := func(nonce string) (int, http.Header) {
		return e.do(t, http.MethodPost, "DPoP "+tok, e.proof(t, resourceservertest.Proof{AccessToken: tok, Nonce: nonce}))
	}
	status, h := call("")
	first := h.Get("DPoP-Nonce")
	if status != 401 || first == "" || !strings.HasPrefix(h.Get("WWW-Authenticate"), "DPoP ") || !strings.Contains(h.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("no nonce: %d %q nonce=%q", status, h.Values("WWW-Authenticate"), first)
	}
	status, h = call(first)
	next := h.Get("DPoP-Nonce")
	if status != 200 || next == "" {
		t.Fatalf("with the nonce: %d, next nonce %q", status, next)
	}
	if status, _ := call(next); status != 200 {
		t.Errorf("with the next nonce: %d", status)
	}
	otherRS, _ := dpop.NewNonces(dpop.NoncesOptions{Secrets: [][]byte{secret}, Purpose: "https://other.example/mcp", Now: e.clk.Now})
	foreign, _ := otherRS.Issue()
	for name, n := range map[string]string{"forged": first[:len(first)-2] + "AA", "another resource's": foreign} {
		if status, h := call(n); status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "use_dpop_nonce") || h.Get("DPoP-Nonce") == "" {
			t.Errorf("%s nonce: %d %q", name, status, h.Values("WWW-Authenticate"))
		}
	}
	e.clk.Add(6 * time.Minute)
	tok = e.token(t, e.key.JKT)
	if status, h := call(next); status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "use_dpop_nonce") {
		t.Errorf("expired nonce: %d %q", status, h.Values("WWW-Authenticate"))
	}
}
