package resourceserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The oidc-provider fixture's client credentials (testdata/oidcprovider/server.js).
const (
	opClientID     = "mcp-client"
	opClientSecret = "mcp-client-secret-0123456789abcdef"
	opRSID         = "resource-server"
	opRSSecret     = "resource-server-secret-0123456789"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startOIDCProvider runs the npm package oidc-provider on loopback, a real
// third-party authorization server, and returns its issuer.
func startOIDCProvider(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the oidc-provider interop test")
	}
	dir := filepath.Join("testdata", "oidcprovider")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "oidc-provider", "package.json")); err != nil {
		ci := exec.Command("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		ci.Dir = dir
		if out, err := ci.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	cmd := exec.Command(node, "server.js")
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		stdin.Close() // the fixture exits when its stdin closes
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			t.Fatalf("oidc-provider exited before starting:\n%s", stderr.String())
		}
		var hello struct{ Issuer string }
		if err := json.Unmarshal([]byte(line), &hello); err != nil || hello.Issuer == "" {
			t.Fatalf("oidc-provider said %q: %v", line, err)
		}
		return hello.Issuer
	case <-time.After(60 * time.Second):
		t.Fatalf("oidc-provider did not start within 60s:\n%s", stderr.String())
	}
	return ""
}

// opToken obtains an access token from oidc-provider with the client
// credentials grant for resource (RFC 8707) and scope.
func opToken(t *testing.T, issuer, resource, scope string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {scope}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(opClientID, opClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token request for %s: %d %s %s %v", resource, resp.StatusCode, tr.Error, tr.Description, err)
	}
	return tr.AccessToken
}

// opRevoke revokes token at oidc-provider (RFC 7009).
func opRevoke(t *testing.T, issuer, token string) {
	t.Helper()
	form := url.Values{"token": {token}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token/revocation", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(opClientID, opClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: status %d", resp.StatusCode)
	}
}

// TestOIDCProviderInterop verifies tokens issued by a real third-party
// authorization server (oidc-provider on Node): RFC 9068 JWT access tokens
// signed ES256, RS256 and EdDSA, found through its discovery metadata and
// JWKS; opaque tokens through its RFC 7662 introspection endpoint; a token
// of the local test issuer through the same router (several trusted
// issuers at once); and a revocation at the provider honoured within the
// cache's MaxAge.
func TestOIDCProviderInterop(t *testing.T) {
	issuer := startOIDCProvider(t)
	local := newTestIssuer(t, "/local")
	clk := &clock{t: time.Now()}

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	res := func(p string) string { return srv.URL + p }
	jwtResources := []string{res("/es256/mcp"), res("/rs256/mcp"), res("/eddsa/mcp")}
	opaqueResource := res("/opaque/mcp")

	opJWT, err := NewJWTVerifier(JWTOptions{Issuer: issuer, Audiences: jwtResources, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	localJWT, err := NewJWTVerifier(JWTOptions{Issuer: local.issuer, Audiences: jwtResources, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	intro, err := NewIntrospectionVerifier(IntrospectionOptions{
		Issuer:       issuer, // introspection_endpoint comes from discovery
		ClientID:     opRSID,
		ClientSecret: opRSSecret,
		Audiences:    []string{opaqueResource},
		Now:          clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	multi, err := NewMulti(MultiOptions{Issuers: []IssuerVerifier{opJWT, localJWT}, Opaque: intro})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewCache(multi, CacheOptions{MaxAge: time.Minute, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *Principal, 1)
	for _, r := range append(jwtResources, opaqueResource) {
		mw, err := NewMiddleware(MiddlewareOptions{Verifier: cache, Resource: r, Scopes: []string{"mcp:tools"}})
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(r)
		mux.Handle(u.Path, mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen <- PrincipalFromContext(r.Context())
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{}`)
		})))
	}
	call := func(t *testing.T, resource, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
	}

	tests := []struct {
		name     string
		token    func() string
		resource string
		status   int
		issuer   string
		scopes   []string
	}{
		{"ES256 JWT", func() string { return opToken(t, issuer, res("/es256/mcp"), "mcp:tools mcp:tools:read") }, res("/es256/mcp"), 200, issuer, []string{"mcp:tools", "mcp:tools:read"}},
		{"RS256 JWT", func() string { return opToken(t, issuer, res("/rs256/mcp"), "mcp:tools") }, res("/rs256/mcp"), 200, issuer, []string{"mcp:tools"}},
		{"EdDSA JWT", func() string { return opToken(t, issuer, res("/eddsa/mcp"), "mcp:tools") }, res("/eddsa/mcp"), 200, issuer, []string{"mcp:tools"}},
		{"opaque via introspection", func() string { return opToken(t, issuer, opaqueResource, "mcp:tools") }, opaqueResource, 200, issuer, []string{"mcp:tools"}},
		{"JWT for another resource", func() string { return opToken(t, issuer, res("/es256/mcp"), "mcp:tools") }, res("/rs256/mcp"), 401, "", nil},
		{"opaque for another resource", func() string { return opToken(t, issuer, opaqueResource, "mcp:tools") }, res("/es256/mcp"), 401, "", nil},
		{"JWT presented where opaque is expected", func() string { return opToken(t, issuer, res("/es256/mcp"), "mcp:tools") }, opaqueResource, 401, "", nil},
		{"narrower scope than required", func() string { return opToken(t, issuer, res("/es256/mcp"), "mcp:tools:read") }, res("/es256/mcp"), 403, "", nil},
		{"second trusted issuer", func() string {
			return sign(t, local.key("es"), local.claims(clk.Now(), res("/es256/mcp")), nil)
		}, res("/es256/mcp"), 200, local.issuer, []string{"mcp:tools", "mcp:resources:read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, challenge := call(t, tt.resource, tt.token())
			if status != tt.status {
				t.Fatalf("status %d, want %d (challenge %q)", status, tt.status, challenge)
			}
			if status != 200 {
				return
			}
			p := <-seen
			if p.Issuer != tt.issuer || p.ClientID != opClientID && tt.issuer == issuer {
				t.Errorf("principal %+v", p)
			}
			if diff := cmp.Diff(tt.scopes, p.Scopes); diff != "" {
				t.Errorf("scopes (-want +got):\n%s", diff)
			}
			if !p.HasAudience(tt.resource) {
				t.Errorf("audience %q lacks %q", p.Audience, tt.resource)
			}
		})
	}

	t.Run("revocation within MaxAge", func(t *testing.T) {
		tok := opToken(t, issuer, opaqueResource, "mcp:tools")
		if s, _ := call(t, opaqueResource, tok); s != 200 {
			t.Fatalf("status %d", s)
		}
		<-seen
		opRevoke(t, issuer, tok)
		// Cached: still accepted until MaxAge has passed...
		if s, _ := call(t, opaqueResource, tok); s != 200 {
			t.Fatalf("status %d before MaxAge", s)
		}
		<-seen
		// ...and refused once it has.
		clk.Add(time.Minute)
		if s, c := call(t, opaqueResource, tok); s != 401 || !strings.Contains(c, `error="invalid_token"`) {
			t.Fatalf("after MaxAge: status %d challenge %q, want 401 invalid_token", s, c)
		}
	})
}
