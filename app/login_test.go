package app_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/oauth"
)

// startAS runs the quick start configuration changed by mod.
func startAS(t *testing.T, mod func(*config.Config)) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "examples", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(raw, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.PublicURL = "http://" + cfg.Listen
	cfg.Servers[0].Stdio.Command = []string{filepath.Join(binDir, "mcpfort-everything")}
	cfg.AuthServer.Clients = append(cfg.AuthServer.Clients, config.ASClient{ID: "login-test", Name: "t", RedirectURIs: []string{"http://127.0.0.1:9/cb"}})
	mod(cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return cfg.PublicURL
}

// loginPage opens the sign-in page for the test's public client; the
// returned function posts one attempt with extra request headers.
func loginPage(t *testing.T, base string) func(username, password string, header map[string]string) (int, string, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrf, request := signInForm(t, b, base)
	return func(username, password string, header map[string]string) (int, string, string) {
		t.Helper()
		form := url.Values{"csrf": {csrf}, "request": {request}, "username": {username}, "password": {password}}
		req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := b.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
	}
}

// signInForm opens the sign-in page for the test's public client with
// browser b and returns the form's CSRF token and sealed request.
func signInForm(t *testing.T, b *http.Client, base string) (csrf, request string) {
	t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {"login-test"}, "redirect_uri": {"http://127.0.0.1:9/cb"},
		"code_challenge": {oauth.S256Challenge(rand.Text())}, "code_challenge_method": {"S256"}, "state": {"s"}}
	resp, err := b.Get(base + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m1, m2 := reCSRF.FindStringSubmatch(string(raw)), reRequest.FindStringSubmatch(string(raw))
	if m1 == nil || m2 == nil {
		t.Fatalf("no sign-in form (%d): %.300s", resp.StatusCode, raw)
	}
	return html.UnescapeString(m1[1]), html.UnescapeString(m2[1])
}

// randomNet returns an address in a /64 no earlier run used, so that
// counts left in the shared Redis by other runs do not interfere.
func randomNet() string {
	var b [8]byte
	rand.Read(b[:])
	return fmt.Sprintf("2001:db8:%x:%x::1", binary.BigEndian.Uint16(b[:2]), binary.BigEndian.Uint16(b[2:4]))
}

// TestLoginBehindTrustedProxy: behind a load balancer listed in
// http.trusted_proxies, each client behind it has its own sign-in limit
// (kept in Redis); a client cannot escape its own by adding hops to
// X-Forwarded-For.
func TestLoginBehindTrustedProxy(t *testing.T) {
	base := startAS(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1", "::1"}
		c.AuthServer.Login.RateLimit = 3
		c.State.Redis = "redis://127.0.0.1:6379/0"
	})
	try := loginPage(t, base)
	a, b := randomNet(), randomNet()
	user := "nobody-" + rand.Text()
	for i := range 3 {
		if st, _, _ := try(user, "guess", map[string]string{"X-Forwarded-For": a}); st != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, st)
		}
	}
	st, retry, body := try(user, "guess", map[string]string{"X-Forwarded-For": a})
	if st != http.StatusTooManyRequests || retry == "" || !strings.Contains(body, "Too many sign-in attempts") {
		t.Fatalf("over the limit: %d %q", st, retry)
	}
	if st, _, _ := try(user, "guess", map[string]string{"X-Forwarded-For": "203.0.113.9, " + a}); st != http.StatusTooManyRequests {
		t.Fatalf("a prepended hop escaped the limit: %d", st)
	}
	if st, _, _ := try("nobody-"+rand.Text(), "guess", map[string]string{"X-Forwarded-For": b}); st != http.StatusUnauthorized {
		t.Fatalf("another client behind the same proxy was limited: %d", st)
	}
}

// TestLoginSpoofedForwardedFor: a direct client's X-Forwarded-For is
// ignored when its address is not a trusted proxy.
func TestLoginSpoofedForwardedFor(t *testing.T) {
	base := startAS(t, func(c *config.Config) {
		c.HTTP.TrustedProxies = []string{"10.0.0.0/8"}
		c.AuthServer.Login.RateLimit = 3
	})
	try := loginPage(t, base)
	for i := range 10 {
		st, _, _ := try("nobody-"+rand.Text(), "guess", map[string]string{"X-Forwarded-For": randomNet(), "Forwarded": "for=" + randomNet()})
		if want := map[bool]int{true: http.StatusUnauthorized, false: http.StatusTooManyRequests}[i < 3]; st != want {
			t.Fatalf("attempt %d with a forged X-Forwarded-For: %d, want %d", i, st, want)
		}
	}
}

// TestLoginRedisDown: with state.redis unreachable, password sign-in is
// refused (503), the right password included: without a count there is no
// limit.
func TestLoginRedisDown(t *testing.T) {
	closed := freePort(t)
	base := startAS(t, func(c *config.Config) { c.State.Redis = fmt.Sprintf("redis://127.0.0.1:%d/0", closed) })
	try := loginPage(t, base)
	st, retry, body := try(qsUser, qsPassword, nil)
	if st != http.StatusServiceUnavailable || retry == "" || strings.Contains(strings.ToLower(body), "redis") {
		t.Fatalf("sign-in with Redis down: %d %q", st, retry)
	}
}
