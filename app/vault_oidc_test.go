package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/resourceserver"
)

// startNodeIssuer runs script of the oidc-provider fixture
// (resourceserver/testdata/oidcprovider) with env and returns the issuer
// it prints.
func startNodeIssuer(t *testing.T, script string, env ...string) string {
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
	cmd := exec.Command(node, script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
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

// TestVaultOIDCProvider: the upstream is a Go MCP server (official SDK)
// that accepts only tokens of its own authorization server, oidc-provider,
// validated by package resourceserver. The gateway finds that server from
// the MCP server's protected resource metadata (RFC 9728), gets the user's
// grant through the browser, calls with it, refreshes it before it
// expires, and revokes it at oidc-provider when the user disconnects.
func TestVaultOIDCProvider(t *testing.T) {
	pa := freePort(t)
	a := fmt.Sprintf("http://127.0.0.1:%d", pa)
	issuer := startNodeIssuer(t, "upstream-user.js", "REDIRECT_URI="+a+"/oauth/connect/callback", "ACCOUNT=upstream-user-7")

	// The upstream MCP server.
	var mu sync.Mutex
	var seen []string // subjects and tokens the upstream accepted
	srv := httptest.NewUnstartedServer(nil)
	resource := "http://" + srv.Listener.Addr().String() + "/mcp"
	jwt, err := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{Issuer: issuer, Audiences: []string{resource}})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := resourceserver.NewMiddleware(resourceserver.MiddlewareOptions{Verifier: jwt, Resource: resource, Scopes: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	prm, err := resourceserver.NewMetadataHandler(resourceserver.MetadataOptions{Resource: resource, AuthorizationServers: []string{issuer}, ScopesSupported: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "upstream", Version: "1"}, nil)
	type echoIn struct {
		Text string `json:"text"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "echo"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text}}}, nil, nil
	})
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	mux := http.NewServeMux()
	for _, p := range prm.Paths() {
		mux.Handle(p, prm)
	}
	mux.Handle("/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p := resourceserver.PrincipalFromContext(r.Context())
			mu.Lock()
			seen = append(seen, p.Subject+" "+auth)
			mu.Unlock()
			mcpHandler.ServeHTTP(w, r)
		})).ServeHTTP(w, r)
	}))
	srv.Config.Handler = mux
	srv.Start()
	t.Cleanup(srv.Close)

	t.Setenv("MCPFORT_TEST_VAULT_OIDC", "mcpfort-vault-secret-0123456789abcdef")
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
authserver: {enabled: true}
servers:
  - name: vault
    path: /vault/mcp
    http:
      url: %s
      user_oauth:
        client_id: mcpfort-vault
        client_secret: {env: MCPFORT_TEST_VAULT_OIDC}
`, pa, resource))
	cfg := loadWithUsers(t, p, map[string][]string{"alice": nil})
	_, stop := start(t, cfg)
	t.Cleanup(stop)
	e := &vaultEnv{a: a}
	alice, _ := userToken(t, a, "alice", "")

	var elicited int
	cs, err := e.client(t, alice, "2026-07-28", func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		elicited++
		status, body, _, err := newBrowserAt(req.Params.URL, "alice", "").open(req.Params.URL)
		if err != nil || status != http.StatusOK || !strings.Contains(body, "Connected") {
			return nil, fmt.Errorf("connect: %d %v %.3000s", status, err, body)
		}
		return &mcp.ElicitResult{Action: "accept"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	echo(t, cs, "via-oidc-provider")
	if elicited != 1 {
		t.Fatalf("%d elicitations", elicited)
	}
	mu.Lock()
	first := append([]string(nil), seen...)
	mu.Unlock()
	if len(first) == 0 || !strings.HasPrefix(first[0], "upstream-user-7 Bearer ") || strings.Contains(first[0], alice) {
		t.Fatalf("upstream saw %q", first)
	}
	// Refreshed before expiry (the tokens live 65 s, refreshed in their
	// last 60), with oidc-provider rotating the refresh token.
	time.Sleep(5500 * time.Millisecond)
	echo(t, cs, "refreshed-1")
	echo(t, cs, "refreshed-2")
	mu.Lock()
	last := seen[len(seen)-1]
	mu.Unlock()
	if last == first[0] {
		t.Fatal("the token was not refreshed")
	}
	e.mu.Lock()
	leaked := strings.Contains(e.seenByCli.String(), strings.TrimPrefix(last[strings.IndexByte(last, ' ')+1:], "Bearer "))
	e.mu.Unlock()
	if leaked {
		t.Fatal("the upstream token reached the client")
	}
	// The user disconnects: the next call asks again.
	req, _ := http.NewRequest(http.MethodDelete, a+"/oauth/connections/vault", nil)
	req.Header.Set("Authorization", "Bearer "+alice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("disconnect: %v %v", resp, err)
	}
	resp.Body.Close()
	echo(t, cs, "after-reconnect")
	if elicited != 2 {
		t.Fatalf("%d elicitations after disconnecting", elicited)
	}
}
