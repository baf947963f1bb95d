package authserver

import (
	"bufio"
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
)

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// startUpstreamIdP runs the npm package oidc-provider on loopback as the
// upstream identity provider, configured for redirectURI, and returns its
// issuer.
func startUpstreamIdP(t *testing.T, redirectURI string) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the federation test")
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
	cmd.Env = append(os.Environ(), "REDIRECT_URI="+redirectURI)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if s := stderr.String(); s != "" {
			t.Logf("oidc-provider stderr:\n%s", s)
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
		var hello struct{ Issuer string }
		if !ok || json.Unmarshal([]byte(line), &hello) != nil || hello.Issuer == "" {
			t.Fatalf("oidc-provider did not start: %q\n%s", line, stderr.String())
		}
		return hello.Issuer
	case <-time.After(60 * time.Second):
		t.Fatalf("oidc-provider did not start within 60s:\n%s", stderr.String())
	}
	return ""
}

// newFederatedEnv starts the upstream provider and an authorization
// server federating to it.
func newFederatedEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	upstream := startUpstreamIdP(t, issuer+"/federation/callback")
	return startEnv(t, ts, issuer, func(o *Options) {
		o.Upstream = &Upstream{Issuer: upstream, ClientID: "mcpfort", ClientSecret: "mcpfort-upstream-secret-0123456789", Name: "Test IdP"}
		if mod != nil {
			mod(o)
		}
	})
}

// follow follows redirects across hosts (the provider and this server)
// until a page is shown or the browser is sent to the client's redirect
// URI.
func follow(t *testing.T, b *http.Client, resp *http.Response) (*http.Response, *url.URL) {
	t.Helper()
	for range 20 {
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusTemporaryRedirect {
			return resp, nil
		}
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if loc.Host == "127.0.0.1:4567" {
			return nil, loc
		}
		if resp, err = b.Get(loc.String()); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("too many redirects")
	return nil, nil
}

func TestFederationWithOIDCProvider(t *testing.T) {
	e := newFederatedEnv(t, nil)
	b := e.browser()
	v, c := pkce()
	resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	if err != nil {
		t.Fatal(err)
	}
	body := readBody(t, resp)
	if !strings.Contains(body, "Sign in with Test IdP") || !strings.Contains(body, `name="password"`) {
		t.Fatalf("sign-in page lacks the upstream button or the local form:\n%s", body)
	}
	csrf, req := formFields(t, body)
	resp = e.post(b, e.srv.endpoints.federationStart, url.Values{"csrf": {csrf}, "request": {req}})
	resp, final := follow(t, b, resp)
	if final != nil {
		t.Fatalf("no consent page; redirected to %s", final)
	}
	body = readBody(t, resp)
	if !strings.Contains(body, `name="decision"`) || !strings.Contains(body, "idp-user-42@idp.example") {
		t.Fatalf("expected the consent page for the federated user:\n%s", body)
	}
	csrf, req = formFields(t, body)
	_, final = follow(t, b, e.post(b, e.srv.endpoints.consent, url.Values{"csrf": {csrf}, "request": {req}, "decision": {"allow"}}))
	if final == nil || final.Query().Get("code") == "" || final.Query().Get("iss") != e.srv.issuer {
		t.Fatalf("final redirect %v", final)
	}
	tok := e.redeem(final.Query().Get("code"), v, nil)
	if tok.status != 200 {
		t.Fatalf("token: %s", tok.raw)
	}
	claims, err := e.srv.verifyAccessToken(t.Context(), tok.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := e.store.GetUserBySubject(t.Context(), e.srv.upstream.cfg.Issuer, "idp-user-42")
	if err != nil {
		t.Fatalf("federated user not created: %v", err)
	}
	if claims.Sub != u.ID || u.Email != "idp-user-42@idp.example" || u.Name != "Upstream User" || u.PasswordHash != "" {
		t.Errorf("user %+v, token sub %s", u, claims.Sub)
	}

	// The same identity signs in again as the same user.
	b2 := e.browser()
	_, c2 := pkce()
	resp, _ = b2.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c2).Encode())
	csrf, req = formFields(t, readBody(t, resp))
	resp, _ = follow(t, b2, e.post(b2, e.srv.endpoints.federationStart, url.Values{"csrf": {csrf}, "request": {req}}))
	if resp != nil {
		resp.Body.Close()
	}
	users, _ := e.store.ListUsers(t.Context(), "", 10)
	if len(users) != 2 { // alice (local) and the federated user
		t.Errorf("%d users after a second federated sign-in", len(users))
	}

	// A disabled federated user is refused.
	u.Disabled = true
	if err := e.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	b3 := e.browser()
	resp, _ = b3.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c2).Encode())
	csrf, req = formFields(t, readBody(t, resp))
	_, final = follow(t, b3, e.post(b3, e.srv.endpoints.federationStart, url.Values{"csrf": {csrf}, "request": {req}}))
	if final == nil || final.Query().Get("error") != "access_denied" {
		t.Errorf("disabled federated user: %v", final)
	}
}

// TestFederationOnly: with local login disabled the authorization request
// goes straight to the provider, and a forged callback is refused.
func TestFederationOnly(t *testing.T) {
	e := newFederatedEnv(t, func(o *Options) { o.DisableLocalLogin = true; o.Upstream.DisableAutoCreate = false })
	b := e.browser()
	_, c := pkce()
	resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), e.srv.upstream.cfg.Issuer) {
		t.Fatalf("not sent to the provider: %d %s", resp.StatusCode, loc)
	}
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("upstream request %v", q)
	}
	// A callback whose state is not this browser's is refused.
	resp, _ = b.Get(e.url(e.srv.endpoints.federationCallback) + "?code=x&state=forged")
	if resp.StatusCode != 400 {
		t.Errorf("forged state: %d", resp.StatusCode)
	}
	resp.Body.Close()
	// Password sign-in is off.
	r := e.post(b, e.srv.endpoints.login, url.Values{"username": {userName}, "password": {userPass}})
	r.Body.Close()
	if r.StatusCode < 400 {
		t.Errorf("password sign-in with local login disabled: %d", r.StatusCode)
	}
}
