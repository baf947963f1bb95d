package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
)

// startOIDCProvider runs the npm package oidc-provider (a real third-party
// authorization server, the fixture of the resourceserver tests) on
// loopback and returns its issuer.
func startOIDCProvider(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir, _ := filepath.Abs(filepath.Join("..", "resourceserver", "testdata", "oidcprovider"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		ci := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	cmd := exec.Command(node, "server.js")
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatal("oidc-provider printed nothing")
	}
	var hello struct{ Issuer string }
	if err := json.Unmarshal(sc.Bytes(), &hello); err != nil || hello.Issuer == "" {
		t.Fatalf("oidc-provider said %q", sc.Text())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return hello.Issuer
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
