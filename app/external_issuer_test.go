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

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
)

// startOIDCProvider runs the npm package oidc-provider (a real third-party
// authorization server, the fixture of the resourceserver tests) on
// loopback and returns its issuer.
func startOIDCProvider(t *testing.T) string {
	t.Helper()
	return startNodeIssuer(t, "server.js")
}

func clientCredentials(t *testing.T, tokenURL, id, secret, resource, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	if resp.StatusCode != 200 || tr.AccessToken == "" {
		t.Fatalf("client credentials at %s: %d", tokenURL, resp.StatusCode)
	}
	return tr.AccessToken
}

// TestEmbeddedAndExternalIssuers: one route trusts the embedded
// authorization server and a third-party one (oidc-provider) at once.
func TestEmbeddedAndExternalIssuers(t *testing.T) {
	external := startOIDCProvider(t)
	t.Setenv("MCPFORT_TEST_ROBOT_SECRET", "robot-secret-robot-secret-robot-secret")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth: {insecure_allow_http: true, issuers: [{issuer: %q}]}
authserver:
  enabled: true
  clients:
    - {id: robot, secret: {env: MCPFORT_TEST_ROBOT_SECRET}, grant_types: [client_credentials], token_endpoint_auth_method: client_secret_basic,
       resources: [everything], scopes: [mcp:tools]}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
    auth: {scopes: [mcp:tools]}
`, port, external, filepath.Join(binDir, "mcpfort-everything")))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	resource := base + "/mcp"
	tokens := map[string]string{
		"embedded": clientCredentials(t, base+"/token", "robot", "robot-secret-robot-secret-robot-secret", resource, "mcp:tools"),
		"external": clientCredentials(t, external+"/token", "mcp-client", "mcp-client-secret-0123456789abcdef", resource, "mcp:tools"),
	}
	for name, tok := range tokens {
		cs, err := authedClient(t, resource, tok, "")
		if err != nil {
			t.Fatalf("%s issuer: %v", name, err)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": name}})
		if err != nil || res.Content[0].(*mcp.TextContent).Text != name {
			t.Fatalf("%s issuer: %v %v", name, res, err)
		}
		cs.Close()
	}
	// The PRM names both.
	resp, err := http.Get(base + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AuthorizationServers []string `json:"authorization_servers"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if len(doc.AuthorizationServers) != 2 || doc.AuthorizationServers[0] != base || doc.AuthorizationServers[1] != external {
		t.Fatalf("authorization_servers = %v", doc.AuthorizationServers)
	}
}
