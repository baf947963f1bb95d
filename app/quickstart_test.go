package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
)

const (
	qsUser     = "quickstart-admin"
	qsPassword = "correct horse battery staple"
)

// startQuickstart runs examples/quickstart.yaml as it is, except for what
// a test must own: the port, the state directory and the path of the
// built demo server.
func startQuickstart(t *testing.T) (base string, stop func()) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "examples", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(raw, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg.Listen = fmt.Sprintf("127.0.0.1:%d", port)
	cfg.PublicURL = "http://" + cfg.Listen
	cfg.Servers[0].Stdio.Command = []string{filepath.Join(binDir, "mcpfort-everything")}
	env := map[string]string{"MCPFORT_ADMIN_USER": qsUser, "MCPFORT_ADMIN_PASSWORD": qsPassword}
	a, err := app.New(cfg, app.Options{Version: "test", Getenv: func(k string) string { return env[k] }, Console: io.Discard,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, func(_ net.Addr) { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	return cfg.PublicURL, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

var (
	reCSRF    = regexp.MustCompile(`name="csrf" value="([^"]*)"`)
	reRequest = regexp.MustCompile(`name="request" value="([^"]*)"`)
)

// signIn plays the user in a browser: it opens the authorization URL with
// a cookie-keeping client, fills in the real sign-in and consent pages and
// returns where the server finally redirects.
func signIn(authURL string) (*url.URL, error) { return signInAs(authURL, qsUser, qsPassword) }

// signInAs is signIn for another account.
func signInAs(authURL, user, password string) (*url.URL, error) {
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := b.Get(authURL)
	if err != nil {
		return nil, err
	}
	for range 4 {
		if resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther {
			resp.Body.Close()
			return url.Parse(resp.Header.Get("Location"))
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(raw)
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("page status %d: %s", resp.StatusCode, body)
		}
		m1, m2 := reCSRF.FindStringSubmatch(body), reRequest.FindStringSubmatch(body)
		if m1 == nil || m2 == nil {
			return nil, errors.New("page without form fields")
		}
		form := url.Values{"csrf": {html.UnescapeString(m1[1])}, "request": {html.UnescapeString(m2[1])}}
		action := ""
		switch {
		case strings.Contains(body, `name="password"`):
			form.Set("username", user)
			form.Set("password", password)
			action = "/login"
		case strings.Contains(body, `name="decision"`):
			form.Set("decision", "allow")
			action = "/consent"
		default:
			return nil, fmt.Errorf("unexpected page: %.300s", body)
		}
		u, _ := url.Parse(authURL)
		u.Path, u.RawQuery = action, ""
		if resp, err = b.PostForm(u.String(), form); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("no redirect after sign-in and consent")
}

// TestQuickstartGoSDK: the official Go SDK client goes through discovery
// (401 -> protected resource metadata -> authorization server metadata),
// dynamic registration, sign-in, consent and PKCE, then calls tools through
// the gateway, in both protocol eras.
func TestQuickstartGoSDK(t *testing.T) {
	base, stop := startQuickstart(t)
	defer stop()
	redirect := "http://127.0.0.1:1/callback" // loopback: any port is allowed (RFC 8252)
	for _, version := range []string{"2025-11-25", ""} {
		h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
			DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
				ClientName: "Go SDK quick start client", RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: "none",
				GrantTypes: []string{"authorization_code", "refresh_token"},
			}},
			RedirectURL: redirect,
			AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
				loc, err := signIn(args.URL)
				if err != nil {
					return nil, err
				}
				q := loc.Query()
				if e := q.Get("error"); e != "" {
					return nil, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
				}
				if q.Get("iss") != base {
					return nil, fmt.Errorf("iss = %q, want %q", q.Get("iss"), base)
				}
				return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
			},
			Client: &http.Client{},
		})
		if err != nil {
			t.Fatal(err)
		}
		c := mcp.NewClient(&mcp.Implementation{Name: "quickstart", Version: "1"}, nil)
		var opts *mcp.ClientSessionOptions
		if version != "" {
			opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
		}
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", OAuthHandler: h, DisableStandaloneSSE: true}, opts)
		if err != nil {
			t.Fatalf("connect (%q): %v", version, err)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello " + version}})
		if err != nil || res.Content[0].(*mcp.TextContent).Text != "hello "+version {
			t.Fatalf("tools/call (%q): %v %v", version, res, err)
		}
		cs.Close()
	}
}

// TestQuickstartTypeScript: the same with the official TypeScript SDK
// client and its OAuthClientProvider.
func TestQuickstartTypeScript(t *testing.T) {
	node, dir := nodeDeps(t)
	base, stop := startQuickstart(t)
	defer stop()
	cmd := exec.Command(node, "oauth-client.mjs", base+"/mcp", "http://127.0.0.1:1/callback")
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	var result string
	for sc.Scan() {
		var msg struct{ Authorize, Result string }
		if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
			t.Fatalf("client said %q", sc.Text())
		}
		switch {
		case msg.Authorize != "":
			loc, err := signIn(msg.Authorize)
			if err != nil {
				t.Fatalf("sign-in: %v", err)
			}
			fmt.Fprintln(stdin, loc.String())
		case msg.Result != "":
			result = msg.Result
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("TypeScript client: %v\n%s", err, stderr.String())
	}
	if result != "hello from typescript" {
		t.Fatalf("result %q\n%s", result, stderr.String())
	}
}
