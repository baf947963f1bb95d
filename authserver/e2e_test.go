package authserver_test

// End-to-end proofs with real clients: the official Go MCP SDK's
// auth.AuthorizationCodeHandler and golang.org/x/oauth2 drive the
// authorization server over loopback HTTP, sign in through the real HTML
// pages with a cookie-keeping client, and call a tool on a go-sdk MCP
// server protected by the resourceserver middleware.

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/sqlite"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	e2eUser = "bob"
	e2ePass = "a long enough test password"
)

// stack is an authorization server plus a protected go-sdk MCP server.
type stack struct {
	as       *authserver.Server
	asURL    string
	mcpURL   string
	store    storage.Store
	docURL   string // a client ID metadata document served over TLS
	docPool  *httptest.Server
	redirect string
}

func newStack(t *testing.T, withDoc bool) *stack {
	t.Helper()
	ctx := context.Background()
	st := &stack{redirect: "http://127.0.0.1:33418/callback"}

	// Client ID metadata document on a local TLS server.
	var doc *httptest.Server
	if withDoc {
		doc = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"client_id":%q,"client_name":"Go SDK test client","redirect_uris":[%q],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}`,
				st.docURL, st.redirect)
		}))
		t.Cleanup(doc.Close)
		st.docURL = doc.URL + "/oauth/client.json"
		st.docPool = doc
	}

	// The MCP server, its listener first so its URL is known.
	mcpTS := httptest.NewUnstartedServer(nil)
	st.mcpURL = "http://" + mcpTS.Listener.Addr().String() + "/mcp"
	asTS := httptest.NewUnstartedServer(nil)
	st.asURL = "http://" + asTS.Listener.Addr().String()

	store, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(t.TempDir(), "as.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	st.store = store
	kek := make([]byte, keys.KEKSize)
	rand.Read(kek)
	opts := authserver.Options{
		Issuer: st.asURL, Store: store, KeyEncryptionKey: kek,
		Resources: []authserver.Resource{{URI: st.mcpURL, Name: "Echo server", Scopes: []string{"mcp:tools"}, DefaultScopes: []string{"mcp:tools"}}},
		Clients: []authserver.StaticClient{
			{ID: "robot", Secret: "robot-secret-robot-secret-robot-secret", GrantTypes: []string{"client_credentials"},
				Resources: []string{st.mcpURL}, Scopes: []string{"mcp:tools"}},
			{ID: "webapp", Name: "Web app", RedirectURIs: []string{st.redirect}},
		},
	}
	if doc != nil {
		opts.CIMD.RootCAs = doc.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		opts.CIMD.InsecureAllowLoopback = true
	}
	as, err := authserver.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	st.as = as
	asTS.Config.Handler = as
	asTS.Start()
	t.Cleanup(asTS.Close)
	hash, _ := authserver.HashPassword(e2ePass)
	if err := store.CreateUser(ctx, &storage.User{ID: "u-bob", Username: e2eUser, PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}

	// go-sdk MCP server with one tool, behind the resource-server middleware.
	server := mcp.NewServer(&mcp.Implementation{Name: "echo", Version: "1.0.0"}, nil)
	type echoIn struct {
		Text string `json:"text"`
	}
	mcp.AddTool(server, &mcp.Tool{Name: "echo", Description: "echo text"}, func(ctx context.Context, req *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		who := ""
		if p := resourceserver.PrincipalFromContext(ctx); p != nil {
			who = p.Subject
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Text + " from " + who}}}, nil, nil
	})
	jwtv, err := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{Issuer: st.asURL, Audiences: []string{st.mcpURL}})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := resourceserver.NewMiddleware(resourceserver.MiddlewareOptions{Verifier: jwtv, Resource: st.mcpURL, Scopes: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	prm, err := resourceserver.NewMetadataHandler(resourceserver.MetadataOptions{Resource: st.mcpURL, AuthorizationServers: []string{st.asURL}, ScopesSupported: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, p := range prm.Paths() {
		mux.Handle(p, prm)
	}
	mux.Handle("/mcp", mw.Wrap(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)))
	mcpTS.Config.Handler = mux
	mcpTS.Start()
	t.Cleanup(mcpTS.Close)
	return st
}

var (
	reCSRF    = regexp.MustCompile(`name="csrf" value="([^"]*)"`)
	reRequest = regexp.MustCompile(`name="request" value="([^"]*)"`)
)

// browse plays the user: it opens the authorization URL with a
// cookie-keeping client, submits the sign-in and consent forms of the real
// pages, and returns the redirect the server finally sends.
func browse(t *testing.T, authURL string) (*url.URL, error) {
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
			form.Set("username", e2eUser)
			form.Set("password", e2ePass)
			action = "/login"
		case strings.Contains(body, `name="decision"`):
			form.Set("decision", "allow")
			action = "/consent"
		default:
			return nil, fmt.Errorf("unexpected page: %s", body)
		}
		u, _ := url.Parse(authURL)
		u.Path, u.RawQuery = action, ""
		resp, err = b.PostForm(u.String(), form)
		if err != nil {
			return nil, err
		}
	}
	return nil, errors.New("no redirect after sign-in and consent")
}

func fetcher(t *testing.T) auth.AuthorizationCodeFetcher {
	return func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		loc, err := browse(t, args.URL)
		if err != nil {
			return nil, err
		}
		q := loc.Query()
		if e := q.Get("error"); e != "" {
			return nil, fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
		}
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
}

// callEcho connects a go-sdk client with the given OAuth handler and calls
// the echo tool.
func callEcho(t *testing.T, st *stack, h auth.OAuthHandler) string {
	t.Helper()
	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e-client", Version: "1.0.0"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: st.mcpURL, OAuthHandler: h}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}})
	if err != nil {
		t.Fatalf("tools/call: %v", err)
	}
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("tool result %+v", res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// TestGoSDKClientCIMD: PRM -> AS metadata -> client ID metadata document
// -> PKCE -> iss check -> token -> authorized tools/call.
func TestGoSDKClientCIMD(t *testing.T) {
	st := newStack(t, true)
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: st.docURL},
		RedirectURL:                    st.redirect,
		AuthorizationCodeFetcher:       fetcher(t),
		Client:                         &http.Client{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := callEcho(t, st, h); got != "hello from u-bob" {
		t.Errorf("tool said %q", got)
	}
}

// TestGoSDKClientDCR: the same with dynamic client registration.
func TestGoSDKClientDCR(t *testing.T) {
	st := newStack(t, false)
	h, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName: "Go SDK DCR client", RedirectURIs: []string{st.redirect}, TokenEndpointAuthMethod: "none",
			GrantTypes: []string{"authorization_code", "refresh_token"},
		}},
		RedirectURL:              st.redirect,
		AuthorizationCodeFetcher: fetcher(t),
		Client:                   &http.Client{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := callEcho(t, st, h); got != "hello from u-bob" {
		t.Errorf("tool said %q", got)
	}
}

// TestGoSDKClientWrongAudience: a token issued for one MCP server is
// refused by another (RFC 8707 audience binding end to end).
func TestGoSDKClientWrongAudience(t *testing.T) {
	st := newStack(t, false)
	cfg := clientcredentials.Config{ClientID: "robot", ClientSecret: "robot-secret-robot-secret-robot-secret",
		TokenURL: st.asURL + "/token", AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	other, err := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{Issuer: st.asURL, Audiences: []string{"http://127.0.0.1:1/other"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(context.Background(), tok.AccessToken); err == nil {
		t.Error("token for one resource accepted by another")
	}
	mine, _ := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{Issuer: st.asURL, Audiences: []string{st.mcpURL}})
	if _, err := mine.Verify(context.Background(), tok.AccessToken); err != nil {
		t.Errorf("token refused by its own resource: %v", err)
	}
}

// TestXOAuth2: golang.org/x/oauth2 as a plain OAuth client: code flow
// with PKCE and resource, refresh through its TokenSource, client
// credentials.
func TestXOAuth2(t *testing.T) {
	st := newStack(t, false)
	ctx := context.Background()
	cfg := &oauth2.Config{
		ClientID: "webapp", RedirectURL: st.redirect, Scopes: []string{"mcp:tools"},
		Endpoint: oauth2.Endpoint{AuthURL: st.asURL + "/authorize", TokenURL: st.asURL + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	loc, err := browse(t, cfg.AuthCodeURL("st8", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", st.mcpURL)))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if q.Get("state") != "st8" || q.Get("iss") != st.asURL {
		t.Fatalf("authorization response %v", q)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", st.mcpURL))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token %+v", tok)
	}
	// Force a refresh through the library.
	tok.Expiry = tok.Expiry.Add(-24 * 60 * 60 * 1e9)
	fresh, err := cfg.TokenSource(ctx, tok).Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Error("refresh did not rotate")
	}
	// The MCP server accepts the refreshed token.
	h := staticHandler{oauth2.StaticTokenSource(fresh)}
	if got := callEcho(t, st, h); got != "hello from u-bob" {
		t.Errorf("tool said %q", got)
	}
	// The old refresh token is now a reuse: the family is revoked.
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("rotated refresh token accepted")
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); err == nil {
		t.Error("family survived reuse")
	}

	cc := clientcredentials.Config{ClientID: "robot", ClientSecret: "robot-secret-robot-secret-robot-secret", TokenURL: st.asURL + "/token",
		EndpointParams: url.Values{"resource": {st.mcpURL}}}
	robot, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := callEcho(t, st, staticHandler{oauth2.StaticTokenSource(robot)}); got != "hello from robot" {
		t.Errorf("tool said %q", got)
	}
}

// staticHandler is an auth.OAuthHandler with a fixed token.
type staticHandler struct{ ts oauth2.TokenSource }

func (s staticHandler) TokenSource(context.Context) (oauth2.TokenSource, error) { return s.ts, nil }
func (s staticHandler) Authorize(context.Context, *http.Request, *http.Response) error {
	return errors.New("static token refused")
}

// TestTypeScriptSDKClient drives the official TypeScript SDK client
// (OAuthClientProvider, StreamableHTTPClientTransport) through DCR and
// through a client ID metadata document: it discovers the PRM and the AS
// metadata, registers or presents its URL, sends PKCE and resource; the
// test plays the browser on the real pages and hands the callback back;
// the client redeems the code and calls the tool.
func TestTypeScriptSDKClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir := filepath.Join("testdata", "tsclient")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")); err != nil {
		ci := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	for _, mode := range []string{"dcr", "cimd"} {
		t.Run(mode, func(t *testing.T) {
			st := newStack(t, mode == "cimd")
			args := []string{"client.mjs", st.mcpURL, st.redirect}
			if mode == "cimd" {
				args = append(args, st.docURL)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, args...)
			cmd.Dir = dir
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { _ = cmd.Wait() }()
			sc := bufio.NewScanner(stdout)
			var msg struct {
				Authorize string `json:"authorize"`
				Result    string `json:"result"`
				Refresh   bool   `json:"refresh"`
			}
			for sc.Scan() {
				msg.Authorize, msg.Result = "", ""
				if err := json.Unmarshal(sc.Bytes(), &msg); err != nil {
					t.Fatalf("client said %q", sc.Text())
				}
				if msg.Authorize != "" {
					loc, err := browse(t, msg.Authorize)
					if err != nil {
						t.Fatal(err)
					}
					if loc.Query().Get("iss") != st.asURL {
						t.Errorf("callback without iss: %s", loc)
					}
					fmt.Fprintln(stdin, loc.String())
					continue
				}
				break
			}
			stdin.Close()
			if msg.Result != "hello from u-bob" || !msg.Refresh {
				t.Fatalf("result %+v\nclient stderr:\n%s", msg, stderr.String())
			}
		})
	}
}
