package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/backend"
)

// grantsConfig is an embedded authorization server fronting the demo
// server, whose tool test_simple_text needs mcp:admin, granted to the
// group admins only.
func grantsConfig(t *testing.T, users map[string][]string) *config.Config {
	t.Helper()
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
authserver: {enabled: true}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
    auth:
      tools: {test_simple_text: [mcp:admin]}
      grants: [{scopes: [mcp:admin], groups: [admins]}]
`, freePort(t), filepath.Join(binDir, "mcpfort-everything")))
	return loadWithUsers(t, p, users)
}

// loadWithUsers loads the configuration at p, makes public_url match its
// listener, and creates local users (password qsPassword, with the given
// groups) in its state database before any server starts.
func loadWithUsers(t *testing.T, p string, users map[string][]string) *config.Config {
	t.Helper()
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg.PublicURL = "http://" + cfg.Listen
	ctx := context.Background()
	store, err := backend.Open(ctx, cfg.State.Database, cfg.State.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hash, err := authserver.HashPassword(qsPassword)
	if err != nil {
		t.Fatal(err)
	}
	for name, groups := range users {
		now := time.Now()
		if err := store.CreateUser(ctx, &storage.User{ID: "u_" + name, Username: name, PasswordHash: hash, Groups: groups, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// userToken registers a public client dynamically, signs in as user
// through the real pages, consents, and redeems the code (PKCE).
func userToken(t *testing.T, base, user, scope string) (token, granted string) {
	t.Helper()
	return userTokenFor(t, base, user, scope, "")
}

// userTokenFor is userToken for resource (RFC 8707), if not empty.
func userTokenFor(t *testing.T, base, user, scope, resource string) (token, granted string) {
	t.Helper()
	reg := postJSON(t, base+"/register", `{"client_name":"attacker","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}`)
	clientID, _ := reg["client_id"].(string)
	if clientID == "" {
		t.Fatalf("register: %v", reg)
	}
	verifier := strings.Repeat("v", 50)
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {"http://127.0.0.1:9/cb"},
		"code_challenge": {oauth.S256Challenge(verifier)}, "code_challenge_method": {"S256"}, "scope": {scope}, "state": {"s"}}
	if resource != "" {
		q.Set("resource", resource)
	}
	loc, err := signInAs(base+"/authorize?"+q.Encode(), user, qsPassword)
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %s", loc)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"client_id": {clientID}, "redirect_uri": {"http://127.0.0.1:9/cb"}}
	if resource != "" {
		form.Set("resource", resource)
	}
	tok := postForm(t, base+"/token", form, "")
	token, _ = tok["access_token"].(string)
	granted, _ = tok["scope"].(string)
	if token == "" {
		t.Fatalf("token: %v", tok)
	}
	return token, granted
}

func postJSON(t *testing.T, u, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	m["_status"] = float64(resp.StatusCode)
	return m
}

func postForm(t *testing.T, u string, form url.Values, basic string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		id, secret, _ := strings.Cut(basic, ":")
		req.SetBasicAuth(id, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if m == nil {
		m = map[string]any{}
	}
	m["_status"] = float64(resp.StatusCode)
	return m
}

// callTool sends a stateless (2026-07-28) tools/call with token and
// returns the HTTP status and the WWW-Authenticate header.
func callTool(t *testing.T, base, token, name string) (int, string, string) {
	t.Helper()
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{"text":"hi"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"t","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`, name)
	req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", name)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	sb.Write(buf[:n])
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), sb.String()
}

// TestNoTokenWithoutAUser performs the anonymous machine-access attack on
// the quick start: register a confidential client for client_credentials
// and mint a token with the admin scope. Registration refuses the grant,
// and no token comes out of the token endpoint.
func TestNoTokenWithoutAUser(t *testing.T) {
	base, stop := startQuickstart(t)
	defer stop()
	reg := postJSON(t, base+"/register", `{"client_name":"intruder","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`)
	if reg["_status"] != float64(400) || reg["error"] != "invalid_client_metadata" || reg["client_secret"] != nil {
		t.Fatalf("registration for client_credentials: %v", reg)
	}
	// Even a client registered for the code flow gets no machine token.
	reg = postJSON(t, base+"/register", `{"client_name":"intruder","redirect_uris":["https://evil.example/cb"],"token_endpoint_auth_method":"client_secret_basic"}`)
	id, _ := reg["client_id"].(string)
	secret, _ := reg["client_secret"].(string)
	if id == "" || secret == "" {
		t.Fatalf("registration: %v", reg)
	}
	tok := postForm(t, base+"/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp"}}, id+":"+secret)
	if tok["error"] != "unauthorized_client" || tok["access_token"] != nil {
		t.Fatalf("client_credentials for a registered client: %v", tok)
	}
	// Nor may it read tokens at the introspection endpoint.
	in := postForm(t, base+"/introspect", url.Values{"token": {"x"}}, id+":"+secret)
	if in["error"] != "unauthorized_client" {
		t.Fatalf("introspection by a registered client: %v", in)
	}
	if status, _, _ := callTool(t, base, "", "echo"); status != http.StatusUnauthorized {
		t.Fatalf("anonymous tools/call: %d", status)
	}
}

// TestScopesByGroupThroughGateway: a per-tool scope protects the tool
// when the embedded server issues the tokens: a signed-in user outside
// the group that is granted mcp:admin asks for it, is not granted it, and
// gets 403 insufficient_scope calling the tool; a member calls it.
func TestScopesByGroupThroughGateway(t *testing.T) {
	cfg := grantsConfig(t, map[string][]string{"mallory": {"staff"}, "ada": {"admins"}})
	base, stop := start(t, cfg)
	defer stop()

	token, granted := userToken(t, base, "mallory", "mcp:access mcp:admin")
	if granted != "mcp:access" {
		t.Errorf("mallory was granted %q", granted)
	}
	if status, _, body := callTool(t, base, token, "echo"); status != 200 {
		t.Fatalf("mallory echo: %d %s", status, body)
	}
	status, challenge, body := callTool(t, base, token, "test_simple_text")
	if status != http.StatusForbidden || !strings.Contains(challenge, "insufficient_scope") {
		t.Fatalf("mallory calling the admin tool: %d %q %s", status, challenge, body)
	}

	token, granted = userToken(t, base, "ada", "mcp:access mcp:admin")
	if granted != "mcp:access mcp:admin" {
		t.Errorf("ada was granted %q", granted)
	}
	if status, _, body := callTool(t, base, token, "test_simple_text"); status != 200 {
		t.Fatalf("ada calling the admin tool: %d %s", status, body)
	}
}

// TestRouteGroupsAtTheAuthorizationServer: a route restricted to groups
// gets no token issued for a user outside them (access_denied at the
// authorization endpoint), not only a 403 at the gateway.
func TestRouteGroupsAtTheAuthorizationServer(t *testing.T) {
	cfg := grantsConfig(t, map[string][]string{"mallory": {"staff"}, "ada": {"admins"}})
	cfg.Servers[0].Auth.Groups = []string{"admins"}
	base, stop := start(t, cfg)
	defer stop()
	reg := postJSON(t, base+"/register", `{"client_name":"c","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}`)
	clientID, _ := reg["client_id"].(string)
	q := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {"http://127.0.0.1:9/cb"},
		"code_challenge": {oauth.S256Challenge(strings.Repeat("v", 50))}, "code_challenge_method": {"S256"}, "state": {"s"}}
	loc, err := signInAs(base+"/authorize?"+q.Encode(), "mallory", qsPassword)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
		t.Fatalf("outsider: %s", loc)
	}
	if token, _ := userToken(t, base, "ada", ""); token == "" {
		t.Fatal("member got no token")
	}
}
