package app_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/auth/extauth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/mcpfort/mcpfort/config"
)

// enterpriseIdP is an identity provider for enterprise-managed
// authorization: RFC 8414 metadata, a JWKS, and a token endpoint that
// exchanges the ID token it issued (RFC 8693) for an identity assertion
// JWT authorization grant (ID-JAG) naming the MCP authorization server,
// the resource and the MCP client.
type enterpriseIdP struct {
	srv      *httptest.Server
	mcpAS    string // the audience it accepts
	exchange atomic.Int32
}

const (
	entIDToken   = "id-token-of-alice"
	entIdPClient = "mcp-client-at-idp"
	entIdPSecret = "idp-secret-0123456789abcdefghijkl"
	entMCPClient = "enterprise-app"
)

func newEnterpriseIdP(t *testing.T) *enterpriseIdP {
	t.Helper()
	p := &enterpriseIdP{}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "idp"}}, (&jose.SignerOptions{}).WithType("oauth-id-jag+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.srv.URL, "token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/jwks",
			"response_types_supported": []string{"code"}, "code_challenge_methods_supported": []string{"S256"}, "grant_types_supported": []string{"urn:ietf:params:oauth:grant-type:token-exchange"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "idp", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		fail := func(msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": msg})
		}
		if err := r.ParseForm(); err != nil {
			fail(err.Error())
			return
		}
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
		}
		f := r.PostForm
		switch {
		case id != entIdPClient || secret != entIdPSecret:
			fail("client authentication failed")
			return
		case f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange",
			f.Get("subject_token") != entIDToken, f.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token",
			f.Get("requested_token_type") != "urn:ietf:params:oauth:token-type:id-jag":
			fail("not an ID-JAG request for a known ID token")
			return
		case f.Get("audience") != p.mcpAS:
			fail("unknown audience " + f.Get("audience"))
			return
		}
		p.exchange.Add(1)
		now := time.Now()
		jag, err := jwt.Signed(signer).Claims(map[string]any{
			"iss": p.srv.URL, "sub": "alice", "aud": f.Get("audience"), "client_id": entMCPClient, "resource": f.Get("resource"),
			"scope": f.Get("scope"), "jti": fmt.Sprintf("jag-%d", now.UnixNano()), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		}).Serialize()
		if err != nil {
			fail(err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": jag, "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag",
			"token_type": "N_A", "expires_in": 300})
	})
	return p
}

// TestEnterpriseManagedAuthorization: the go-sdk's enterprise client
// handler signs in at an enterprise identity provider, exchanges the ID
// token there for an ID-JAG, redeems it at the embedded authorization
// server with the JWT bearer grant, and calls a tool through the gateway,
// in both eras. No sign-in page and no consent page take part.
func TestEnterpriseManagedAuthorization(t *testing.T) {
	idp := newEnterpriseIdP(t)
	t.Setenv("MCPFORT_TEST_ENT_SECRET", "enterprise-app-secret-0123456789abcdef")
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	idp.mcpAS = base
	p := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: error}
authserver:
  enabled: true
  identity_providers: [{issuer: %q, jwks_uri: %q}]
  clients:
    - id: %s
      secret: {env: MCPFORT_TEST_ENT_SECRET}
      grant_types: [urn:ietf:params:oauth:grant-type:jwt-bearer]
      token_endpoint_auth_method: client_secret_post
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, port, idp.srv.URL, idp.srv.URL+"/jwks", entMCPClient, filepath.Join(binDir, "mcpfort-everything")))
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := start(t, cfg)
	defer stop()

	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		h, err := extauth.NewEnterpriseHandler(&extauth.EnterpriseHandlerConfig{
			IdPIssuerURL:     idp.srv.URL,
			IdPCredentials:   &oauthex.ClientCredentials{ClientID: entIdPClient, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: entIdPSecret}},
			MCPAuthServerURL: base,
			MCPResourceURI:   base + "/mcp",
			MCPCredentials:   &oauthex.ClientCredentials{ClientID: entMCPClient, ClientSecretAuth: &oauthex.ClientSecretAuth{ClientSecret: "enterprise-app-secret-0123456789abcdef"}},
			MCPScopes:        []string{"mcp:access"},
			IDTokenFetcher: func(context.Context) (*oauth2.Token, error) {
				return (&oauth2.Token{AccessToken: "idp-access"}).WithExtra(map[string]any{"id_token": entIDToken}), nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		c := mcp.NewClient(&mcp.Implementation{Name: "enterprise", Version: "1"}, nil)
		cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp", OAuthHandler: h, DisableStandaloneSSE: true},
			&mcp.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			t.Fatalf("%s: connect: %v", version, err)
		}
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "from the enterprise"}})
		if err != nil || res.IsError || !strings.Contains(fmt.Sprint(res.Content[0]), "from the enterprise") {
			t.Errorf("%s: tools/call: %v %+v", version, err, res)
		}
		cs.Close()
	}
	if idp.exchange.Load() == 0 {
		t.Error("the identity provider minted no ID-JAG")
	}
}
