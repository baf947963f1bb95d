package app_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

// dpopConfig is the embedded authorization server fronting the demo server
// twice: /mcp accepts Bearer and DPoP tokens, /strict only DPoP.
func dpopConfig(t *testing.T) *config.Config {
	t.Helper()
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
authserver: {enabled: true}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%[2]q]}
  - name: strict
    path: /strict
    stdio: {command: [%[2]q]}
    auth: {require_dpop: true}
`, freePort(t), filepath.Join(binDir, "mcpfort-everything")))
	return loadWithUsers(t, p, map[string][]string{"ada": nil})
}

// dpopClient is an MCP client that follows RFC 9449 with its own key.
type dpopClient struct {
	t        *testing.T
	base     string
	clientID string
	key      *resourceservertest.DPoPKey
}

func (c *dpopClient) proof(method, u, token string, mod func(*resourceservertest.Proof)) string {
	c.t.Helper()
	p := resourceservertest.Proof{Method: method, URL: u, AccessToken: token}
	if mod != nil {
		mod(&p)
	}
	s, err := c.key.Proof(p)
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

// token posts to the token endpoint with a proof (unless proof is false).
func (c *dpopClient) token(form url.Values, proof bool) map[string]any {
	c.t.Helper()
	form.Set("client_id", c.clientID)
	req, _ := http.NewRequest("POST", c.base+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if proof {
		req.Header.Set("DPoP", c.proof("POST", c.base+"/token", "", nil))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	m["_status"] = float64(resp.StatusCode)
	return m
}

// signIn registers a public client, signs in as ada for both routes and
// redeems the code, with a proof when proof is true.
func (c *dpopClient) signIn(proof bool) (access, refresh, tokenType string) {
	c.t.Helper()
	reg := postJSON(c.t, c.base+"/register", `{"client_name":"dpop","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`)
	c.clientID, _ = reg["client_id"].(string)
	verifier := strings.Repeat("v", 50)
	q := url.Values{"response_type": {"code"}, "client_id": {c.clientID}, "redirect_uri": {"http://127.0.0.1:9/cb"},
		"code_challenge": {oauth.S256Challenge(verifier)}, "code_challenge_method": {"S256"}, "state": {"s"},
		"resource": {c.base + "/mcp", c.base + "/strict"}}
	loc, err := signInAs(c.base+"/authorize?"+q.Encode(), "ada", qsPassword)
	if err != nil {
		c.t.Fatal(err)
	}
	tok := c.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "code_verifier": {verifier},
		"redirect_uri": {"http://127.0.0.1:9/cb"}}, proof)
	access, _ = tok["access_token"].(string)
	refresh, _ = tok["refresh_token"].(string)
	tokenType, _ = tok["token_type"].(string)
	if access == "" {
		c.t.Fatalf("token: %v", tok)
	}
	return access, refresh, tokenType
}

// call sends a stateless tools/call to path with the given Authorization
// and DPoP header values; it returns the status and WWW-Authenticate.
func (c *dpopClient) call(method, path, authz string, proofs ...string) (int, []string) {
	c.t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "echo")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Values("WWW-Authenticate")
}

// TestDPoPThroughGateway: a DPoP client gets a bound token from the
// embedded authorization server and uses it through the gateway; every
// RFC 9449 attack on the bound token is refused at the gateway.
func TestDPoPThroughGateway(t *testing.T) {
	base, stop := start(t, dpopConfig(t))
	defer stop()
	key, err := resourceservertest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &dpopClient{t: t, base: base, key: key}
	tok, rt, typ := c.signIn(true)
	parts := strings.Split(tok, ".")
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if typ != "DPoP" || !strings.Contains(string(claims), `"cnf":{"jkt":"`+key.JKT+`"}`) {
		t.Fatalf("token_type %q, claims %s", typ, claims)
	}
	mcpURL := base + "/mcp"
	for _, path := range []string{"/mcp", "/strict"} {
		if status, wa := c.call("POST", path, "DPoP "+tok, c.proof("POST", base+path, tok, nil)); status != 200 {
			t.Fatalf("%s with a proof: %d %q", path, status, wa)
		}
	}

	thief, _ := resourceservertest.NewDPoPKey()
	thiefProof, _ := thief.Proof(resourceservertest.Proof{Method: "POST", URL: mcpURL, AccessToken: tok})
	replayed := c.proof("POST", mcpURL, tok, nil)
	if status, _ := c.call("POST", "/mcp", "DPoP "+tok, replayed); status != 200 {
		t.Fatalf("first use: %d", status)
	}
	hdr := func(alg, sig string) string {
		pub, _ := key.Private.PublicKey.Bytes() // 0x04 || x || y
		jwk, _ := json.Marshal(map[string]string{"kty": "EC", "crv": "P-256",
			"x": base64.RawURLEncoding.EncodeToString(pub[1:33]), "y": base64.RawURLEncoding.EncodeToString(pub[33:])})
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"dpop+jwt","alg":"` + alg + `","jwk":` + string(jwk) + `}`))
		cl := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"jti":"x%s","htm":"POST","htu":%q,"iat":%d}`, alg, mcpURL, time.Now().Unix())))
		return h + "." + cl + "." + sig
	}
	attacks := []struct {
		name   string
		authz  string
		proofs []string
	}{
		{"stolen token as Bearer", "Bearer " + tok, nil},
		{"stolen token with the thief's key", "DPoP " + tok, []string{thiefProof}},
		{"no proof", "DPoP " + tok, nil},
		{"proof for another URL", "DPoP " + tok, []string{c.proof("POST", base+"/strict", tok, nil)}},
		{"proof for another method", "DPoP " + tok, []string{c.proof("GET", mcpURL, tok, nil)}},
		{"replayed proof", "DPoP " + tok, []string{replayed}},
		{"stale iat", "DPoP " + tok, []string{c.proof("POST", mcpURL, tok, func(p *resourceservertest.Proof) { p.IssuedAt = time.Now().Add(-10 * time.Minute) })}},
		{"missing ath", "DPoP " + tok, []string{c.proof("POST", mcpURL, "", nil)}},
		{"alg none", "DPoP " + tok, []string{hdr("none", "")}},
		{"HS256", "DPoP " + tok, []string{hdr("HS256", "AAAA")}},
	}
	for _, a := range attacks {
		status, wa := c.call("POST", "/mcp", a.authz, a.proofs...)
		if status != 401 || len(wa) == 0 || !strings.HasPrefix(wa[0], "DPoP ") || !strings.Contains(wa[0], "algs=") || !strings.Contains(wa[0], "resource_metadata=") {
			t.Errorf("%s: %d %q", a.name, status, wa)
		}
	}

	// require_dpop: an unbound token works on /mcp, not on /strict.
	plain := &dpopClient{t: t, base: base, key: key}
	btok, _, btyp := plain.signIn(false)
	if btyp != "Bearer" {
		t.Fatalf("token_type without a proof: %q", btyp)
	}
	if status, wa := plain.call("POST", "/mcp", "Bearer "+btok); status != 200 {
		t.Errorf("Bearer on /mcp: %d %q", status, wa)
	}
	if status, wa := plain.call("POST", "/strict", "Bearer "+btok); status != 401 || len(wa) != 1 || !strings.HasPrefix(wa[0], "DPoP ") {
		t.Errorf("Bearer on the DPoP-only route: %d %q", status, wa)
	}

	// The public client's refresh token is bound to its key.
	if r := c.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, false); r["error"] != "invalid_dpop_proof" {
		t.Errorf("refresh without a proof: %v", r)
	}
	r := c.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, true)
	if r["token_type"] != "DPoP" {
		t.Fatalf("refresh with the key: %v", r)
	}
	tok2, _ := r["access_token"].(string)
	if status, wa := c.call("POST", "/mcp", "DPoP "+tok2, c.proof("POST", mcpURL, tok2, nil)); status != 200 {
		t.Errorf("refreshed token: %d %q", status, wa)
	}
}

// TestDPoPAcrossReplicas: two replicas of one deployment (one issuer, one
// state directory, the same session secrets, one Redis) with dpop_nonce
// on. A nonce issued by one replica is accepted by the other, and a proof
// used at one replica is a replay at the other, at the gateway and at the
// token endpoint (RFC 9449 sections 9 and 11.1).
func TestDPoPAcrossReplicas(t *testing.T) {
	t.Setenv("MCPFORT_TEST_SESSION_SECRET", strings.Repeat("d", 40))
	dir := t.TempDir()
	ports := []int{freePort(t), freePort(t)}
	var err error
	public := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	var bases []string
	for i, port := range ports {
		p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
public_url: %s
log: {level: error}
state: {dir: %q, redis: "redis://127.0.0.1:6379/0"}
sessions: {secrets: [{env: MCPFORT_TEST_SESSION_SECRET}]}
authserver: {enabled: true}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
    auth: {dpop_nonce: true}
  - name: strict
    path: /strict
    stdio: {command: [%[4]q]}
`, port, public, dir, filepath.Join(binDir, "mcpfort-everything")))
		var cfg *config.Config
		if i == 0 { // one store: the user is created once
			cfg = loadWithUsers(t, p, map[string][]string{"ada": nil})
		} else if cfg, err = config.Load(p); err != nil {
			t.Fatal(err)
		}
		base, stop := start(t, cfg)
		defer stop()
		bases = append(bases, base)
	}
	key, err := resourceservertest.NewDPoPKey()
	if err != nil {
		t.Fatal(err)
	}
	c := &dpopClient{t: t, base: public, key: key}
	tok, _, typ := c.signIn(true)
	if typ != "DPoP" {
		t.Fatalf("token_type %q", typ)
	}
	mcpURL := public + "/mcp" // the htu: the route's public URL on every replica
	at := func(i int, proof string) (int, http.Header) {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`
		req, _ := http.NewRequest("POST", bases[i]+"/mcp", strings.NewReader(body))
		for k, v := range map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
			"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "echo", "Authorization": "DPoP " + tok, "DPoP": proof} {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header
	}
	withNonce := func(n string) string {
		return c.proof("POST", mcpURL, tok, func(p *resourceservertest.Proof) { p.Nonce = n })
	}
	status, h := at(0, withNonce(""))
	n1 := h.Get("DPoP-Nonce")
	if status != 401 || n1 == "" || !strings.Contains(h.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("no nonce: %d %q nonce %q", status, h.Values("WWW-Authenticate"), n1)
	}
	proof := withNonce(n1)
	status, h = at(1, proof)
	if status != 200 || h.Get("DPoP-Nonce") == "" {
		t.Fatalf("the other replica refused the first replica's nonce: %d %q", status, h.Values("WWW-Authenticate"))
	}
	if status, h := at(0, proof); status != 401 || !strings.Contains(h.Get("WWW-Authenticate"), "invalid_dpop_proof") {
		t.Errorf("a proof used at one replica was accepted again at the other: %d %q", status, h.Values("WWW-Authenticate"))
	}

	// The token endpoint: a refresh proof used at one replica is refused
	// at the other.
	reg := postJSON(t, bases[0]+"/register", `{"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}`)
	if reg["client_id"] == nil {
		t.Fatalf("register: %v", reg)
	}
	tp := c.proof("POST", public+"/token", "", nil)
	for i, want := range []string{"invalid_grant", "invalid_dpop_proof"} {
		req, _ := http.NewRequest("POST", bases[i]+"/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"},
			"refresh_token": {"not-a-token"}, "client_id": {reg["client_id"].(string)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("DPoP", tp)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if m["error"] != want {
			t.Errorf("token request %d with one proof: %v, want %s", i+1, m, want)
		}
	}
}
