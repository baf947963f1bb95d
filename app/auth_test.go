package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// bearer adds a token to every request of a client.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func authedClient(t *testing.T, url, token, version string) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	hc := &http.Client{Transport: &bearer{token: token, next: http.DefaultTransport}}
	var opts *mcp.ClientSessionOptions
	if version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	return c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc, DisableStandaloneSSE: true}, opts)
}

func rawPost(t *testing.T, url, token, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`

func TestProtectedRoute(t *testing.T) {
	iss, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth:
  insecure_allow_http: true
  issuers: [{issuer: %q}]
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
    auth:
      scopes: [mcp:tools]
      tools: {"test_error_*": [mcp:admin]}
`, port, iss.URL, filepath.Join(binDir, "mcpfort-everything")))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	resource := base + "/mcp"
	sign := func(sub string, aud string, scopes ...string) string {
		tok, err := iss.Sign(resourceservertest.Token{Subject: sub, Audience: []string{aud}, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	alice := sign("alice", resource, "mcp:tools")

	t.Run("no token: 401 with the metadata URL", func(t *testing.T) {
		resp := rawPost(t, resource, "", initBody, nil)
		defer resp.Body.Close()
		ch, err := resourceserver.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
		if resp.StatusCode != 401 || err != nil || ch.ResourceMetadata != base+"/.well-known/oauth-protected-resource/mcp" {
			t.Fatalf("%d %q %v", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), err)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("401 body type %q", ct)
		}
	})
	t.Run("protected resource metadata", func(t *testing.T) {
		for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			var doc resourceserver.Metadata
			json.NewDecoder(resp.Body).Decode(&doc)
			resp.Body.Close()
			if resp.StatusCode != 200 || doc.Resource != resource || len(doc.AuthorizationServers) != 1 || doc.AuthorizationServers[0] != iss.URL {
				t.Fatalf("%s: %d %+v", path, resp.StatusCode, doc)
			}
		}
	})
	t.Run("token for another resource", func(t *testing.T) {
		resp := rawPost(t, resource, sign("alice", "https://other.example.com/mcp", "mcp:tools"), initBody, nil)
		resp.Body.Close()
		ch, _ := resourceserver.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
		if resp.StatusCode != 401 || ch.Error != resourceserver.InvalidToken {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("missing route scope: 403", func(t *testing.T) {
		resp := rawPost(t, resource, sign("alice", resource, "other"), initBody, nil)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("token in the query string: 400", func(t *testing.T) {
		resp := rawPost(t, resource+"?access_token="+alice, "", initBody, nil)
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("foreign origin with a valid token: 403", func(t *testing.T) {
		resp := rawPost(t, resource, alice, initBody, map[string]string{"Origin": "https://evil.example.com"})
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	for _, version := range []string{"2025-11-25", ""} {
		t.Run("per-tool scopes, era "+version, func(t *testing.T) {
			cs, err := authedClient(t, resource, alice, version)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			tools, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tool := range tools.Tools {
				if strings.HasPrefix(tool.Name, "test_error_") {
					t.Fatalf("tools/list shows %s, which needs mcp:admin", tool.Name)
				}
			}
			if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "test_error_handling"}); err == nil {
				t.Fatal("a tool needing mcp:admin was called with mcp:tools")
			}
			admin := sign("alice", resource, "mcp:tools", "mcp:admin")
			cs2, err := authedClient(t, resource, admin, version)
			if err != nil {
				t.Fatal(err)
			}
			defer cs2.Close()
			res, err := cs2.CallTool(context.Background(), &mcp.CallToolParams{Name: "test_error_handling"})
			if err != nil || !res.IsError {
				t.Fatalf("admin call: %v %v", res, err)
			}
		})
	}
	t.Run("step-up challenge lists every needed scope", func(t *testing.T) {
		resp := rawPost(t, resource, alice, initBody, nil)
		sid := resp.Header.Get("Mcp-Session-Id")
		resp.Body.Close()
		resp = rawPost(t, resource, alice, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test_error_handling","arguments":{}}}`,
			map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"})
		resp.Body.Close()
		ch, err := resourceserver.ParseChallenge(resp.Header.Get("WWW-Authenticate"))
		if resp.StatusCode != 403 || err != nil || ch.Error != resourceserver.InsufficientScope || strings.Join(ch.Scopes, " ") != "mcp:admin" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("a session is bound to its principal", func(t *testing.T) {
		resp := rawPost(t, resource, alice, initBody, nil)
		sid := resp.Header.Get("Mcp-Session-Id")
		resp.Body.Close()
		bob := sign("bob", resource, "mcp:tools")
		resp = rawPost(t, resource, bob, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"})
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("bob with alice's session: %d, want 404", resp.StatusCode)
		}
	})
}

// TestNoTokenPassthrough: a protected route in front of an HTTP upstream
// never forwards the client's Authorization header.
func TestNoTokenPassthrough(t *testing.T) {
	upstreamBase, stopUp := start(t, stdioConfig(t, "per_session"))
	defer stopUp()
	var mu sync.Mutex
	var seen []string
	target, _ := url.Parse(upstreamBase)
	rp := httputil.NewSingleHostReverseProxy(target)
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		r.Host = target.Host
		rp.ServeHTTP(w, r)
	}))
	defer spy.Close()
	iss, _ := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	defer iss.Close()
	port := freePort(t)
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth: {insecure_allow_http: true, issuers: [{issuer: %q}]}
servers:
  - name: remote
    path: /mcp
    http: {url: %q}
`, port, iss.URL, spy.URL+"/mcp"))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()
	resource := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	tok, _ := iss.Sign(resourceservertest.Token{Subject: "alice", Audience: []string{resource}})
	for _, version := range []string{"2025-11-25", ""} {
		cs, err := authedClient(t, resource, tok, version)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}}); err != nil {
			t.Fatal(err)
		}
		cs.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the upstream saw no request")
	}
	for _, a := range seen {
		if a != "" {
			t.Fatalf("the upstream received the client's Authorization header %q", a)
		}
	}
	_ = io.Discard
}

// TestAssertionToUpstream chains two gateways: the first authenticates the
// client and calls the second with its own signed assertion of the
// principal, which the second verifies through the first's JWKS.
func TestAssertionToUpstream(t *testing.T) {
	iss, _ := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	defer iss.Close()
	p1, p2 := freePort(t), freePort(t)
	front := fmt.Sprintf("http://127.0.0.1:%d", p1)
	back := fmt.Sprintf("http://127.0.0.1:%d", p2)
	backCfg := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth: {insecure_allow_http: true, issuers: [{issuer: %q}]}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, p2, front+"/assertions", filepath.Join(binDir, "mcpfort-everything")))
	frontCfg := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth: {insecure_allow_http: true, issuers: [{issuer: %q}]}
servers:
  - name: remote
    path: /mcp
    http: {url: %q, assertion: {}}
`, p1, iss.URL, back+"/mcp"))
	for _, p := range []string{backCfg, frontCfg} {
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		_, stop := start(t, cfg)
		defer stop()
	}
	tok, _ := iss.Sign(resourceservertest.Token{Subject: "alice", Audience: []string{front + "/mcp"}, Scopes: []string{"mcp:tools"}})
	for _, version := range []string{"2025-11-25", ""} {
		cs, err := authedClient(t, front+"/mcp", tok, version)
		if err != nil {
			t.Fatalf("connect %q: %v", version, err)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "asserted"}})
		if err != nil || res.Content[0].(*mcp.TextContent).Text != "asserted" {
			t.Fatalf("echo through an asserted upstream (%q): %v %v", version, res, err)
		}
		cs.Close()
	}
	// The client's own token is not for the back gateway: it is refused
	// there, which is why the assertion was needed.
	resp := rawPost(t, back+"/mcp", tok, initBody, nil)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("client token at the back gateway: %d, want 401", resp.StatusCode)
	}
}

// TestTokenExchangeToUpstream: the front gateway's embedded authorization
// server exchanges the client's token (RFC 8693) for one issued to the
// back gateway, which trusts that issuer and refuses the client's own.
func TestTokenExchangeToUpstream(t *testing.T) {
	t.Setenv("MCPFORT_TEST_GW_SECRET", "gateway-secret-gateway-secret-gateway-secret")
	t.Setenv("MCPFORT_TEST_ROBOT_SECRET", "robot-secret-robot-secret-robot-secret")
	p1, p2 := freePort(t), freePort(t)
	front := fmt.Sprintf("http://127.0.0.1:%d", p1)
	back := fmt.Sprintf("http://127.0.0.1:%d", p2)
	backCfg := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
auth: {insecure_allow_http: true, issuers: [{issuer: %q}]}
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, p2, front, filepath.Join(binDir, "mcpfort-everything")))
	frontCfg := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
authserver:
  enabled: true
  clients:
    - id: mcpfort-gateway
      secret: {env: MCPFORT_TEST_GW_SECRET}
      grant_types: ["urn:ietf:params:oauth:grant-type:token-exchange"]
      token_endpoint_auth_method: client_secret_basic
    - id: robot
      secret: {env: MCPFORT_TEST_ROBOT_SECRET}
      grant_types: [client_credentials]
      token_endpoint_auth_method: client_secret_basic
      resources: [remote]
      scopes: [mcp:access]
servers:
  - name: remote
    path: /mcp
    http:
      url: %q
      token_exchange: {client_id: mcpfort-gateway, client_secret: {env: MCPFORT_TEST_GW_SECRET}}
`, p1, back+"/mcp"))
	for _, p := range []string{backCfg, frontCfg} {
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		_, stop := start(t, cfg)
		defer stop()
	}
	// The robot's own token, for the front gateway.
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {front + "/mcp"}}
	req, _ := http.NewRequest("POST", front+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("robot", "robot-secret-robot-secret-robot-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tr)
	resp.Body.Close()
	if resp.StatusCode != 200 || tr.AccessToken == "" {
		t.Fatalf("client credentials: %d", resp.StatusCode)
	}
	for _, version := range []string{"2025-11-25", ""} {
		cs, err := authedClient(t, front+"/mcp", tr.AccessToken, version)
		if err != nil {
			t.Fatalf("connect %q: %v", version, err)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "exchanged"}})
		if err != nil || res.Content[0].(*mcp.TextContent).Text != "exchanged" {
			t.Fatalf("echo through an exchanged token (%q): %v %v", version, res, err)
		}
		cs.Close()
	}
	r := rawPost(t, back+"/mcp", tr.AccessToken, initBody, nil)
	r.Body.Close()
	if r.StatusCode != 401 {
		t.Fatalf("the client's token at the back gateway: %d, want 401", r.StatusCode)
	}

	// Attacks on the upstream's audience: the upstream resource is
	// reachable only by the gateway's exchange, never directly.
	robot, gw := "robot:robot-secret-robot-secret-robot-secret", "mcpfort-gateway:gateway-secret-gateway-secret-gateway-secret"
	for name, tc := range map[string]struct {
		form  url.Values
		basic string
		want  string
	}{
		"machine client asks for the upstream":   {url.Values{"grant_type": {"client_credentials"}, "resource": {back + "/mcp"}}, robot, "invalid_target"},
		"machine client exchanges its token":     {url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {tr.AccessToken}, "subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {back + "/mcp"}}, robot, "unauthorized_client"},
		"gateway client mints without a subject": {url.Values{"grant_type": {"client_credentials"}, "resource": {back + "/mcp"}}, gw, "unauthorized_client"},
		"gateway client targets the front route": {url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {tr.AccessToken}, "subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {front + "/mcp"}}, gw, "invalid_target"},
	} {
		if got := postForm(t, front+"/token", tc.form, tc.basic); got["error"] != tc.want || got["access_token"] != nil {
			t.Errorf("%s: %v, want %s", name, got, tc.want)
		}
	}
	// An exchange result is not a route's token: exchanging it again fails.
	up := postForm(t, front+"/token", url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {tr.AccessToken},
		"subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {back + "/mcp"}}, gw)
	upTok, _ := up["access_token"].(string)
	if upTok == "" {
		t.Fatalf("the gateway's own exchange: %v", up)
	}
	again := postForm(t, front+"/token", url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {upTok},
		"subject_token_type": {oauth.TokenTypeAccessToken}, "resource": {back + "/mcp"}}, gw)
	if again["error"] != "invalid_grant" {
		t.Errorf("re-exchange of an upstream token: %v", again)
	}
}
