package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpfort/mcpfort/app"
	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/config"
)

// vaultEnv is a gateway (A) whose route "vault" fronts a second mcpfort
// (B): B's own authorization server protects its MCP route, and A reaches
// it through a recording proxy with each user's own grant at B.
type vaultEnv struct {
	a, b      string // base URLs
	stateA    string // A's state directory
	configA   string
	resourceB string

	proxy    string
	dynamic  bool   // A registers at B dynamically (RFC 7591)
	replicaB string // a second replica of A (TestVaultReplicas), or ""
	// cimd, if set, is A's client ID metadata document URL at B, served
	// over TLS with a certificate from cimdRoots, which B trusts;
	// cimdBad, if set, another one, for a second route "vaultbad".
	cimd, cimdBad string
	cimdRoots     *x509.CertPool

	mu        sync.Mutex
	upstream  []string // Authorization headers B received through the proxy
	seenByCli bytes.Buffer
}

func (e *vaultEnv) upstreamAuths() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.upstream...)
}

func newVaultEnv(t *testing.T) *vaultEnv { return newVaultEnvWith(t, &vaultEnv{}) }

func newVaultEnvWith(t *testing.T, e *vaultEnv) *vaultEnv {
	t.Helper()
	pa, pb := freePort(t), freePort(t)
	e.a, e.b = fmt.Sprintf("http://127.0.0.1:%d", pa), fmt.Sprintf("http://127.0.0.1:%d", pb)
	e.resourceB = e.b + "/mcp"
	t.Setenv("MCPFORT_TEST_VAULT_CLIENT", "vault-client-secret-"+rand.Text())
	t.Setenv("MCPFORT_TEST_SESSION_SECRET", strings.Repeat("v", 40))
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	t.Setenv("MCPFORT_TEST_KEK", base64.StdEncoding.EncodeToString(kek))
	// B: the third party. Its access tokens live 65 s, so that the
	// gateway (which refreshes a token 60 s before it expires) refreshes
	// after 5 s.
	pB := writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
log: {level: warn}
authserver:
  enabled: true
  access_token_lifetime: 65s
  clients:
    - id: gateway-a
      name: Gateway A
      secret: {env: MCPFORT_TEST_VAULT_CLIENT}
      redirect_uris: [%s/oauth/connect/callback]
      grant_types: [authorization_code, refresh_token]
servers:
  - name: everything
    path: /mcp
    stdio: {command: [%q]}
`, pb, e.a, filepath.Join(binDir, "mcpfort-everything")))
	cfgB := loadWithUsers(t, pB, map[string][]string{"carol": nil, "dave": nil})
	optsB := app.Options{Version: "test"}
	if e.cimdRoots != nil {
		app.WithCIMDTestRoots(&optsB, e.cimdRoots)
	}
	_, stopB := startWith(t, cfgB, optsB)
	t.Cleanup(stopB)

	target, _ := url.Parse(e.b)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.upstream = append(e.upstream, r.Header.Get("Authorization"))
		e.mu.Unlock()
		r.Host = target.Host
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)

	e.configA = e.writeA(t, pa, proxy.URL, "sqlite")
	cfgA := loadWithUsers(t, e.configA, map[string][]string{"alice": nil, "bob": nil})
	e.stateA = cfgA.State.Dir
	_, stopA := start(t, cfgA)
	t.Cleanup(stopA)
	e.proxy = proxy.URL
	return e
}

// writeA writes A's configuration: listening on port, public at e.a, its
// route "vault" reaching B through proxy with each user's own grant. A and
// B log warnings (shown only when a test fails): a failed tool listing
// behind a -31001 is logged there with its cause.
func (e *vaultEnv) writeA(t *testing.T, port int, proxy, database string) string {
	t.Helper()
	return writeConfig(t, fmt.Sprintf(`
listen: 127.0.0.1:%d
public_url: %s
log: {level: warn}
state: {database: %q}
sessions: {secrets: [{env: MCPFORT_TEST_SESSION_SECRET}]}
http: {allowed_hosts: ["127.0.0.1:%d"]}
authserver:
  enabled: true
  key_encryption_key: {env: MCPFORT_TEST_KEK}
servers:
  - name: vault
    path: /vault/mcp
    http:
      url: %s/mcp
      user_oauth:
        issuer: %s
%s        resource: %s
%s`, port, e.a, database, port, proxy, e.b, e.clientYAML(), e.resourceB, e.badRouteYAML(proxy)))
}

// badRouteYAML is a second route, "vaultbad", to B as the client of
// e.cimdBad (when set).
func (e *vaultEnv) badRouteYAML(proxy string) string {
	if e.cimdBad == "" {
		return ""
	}
	return fmt.Sprintf(`  - name: vaultbad
    path: /vaultbad/mcp
    http:
      url: %s/mcp
      user_oauth:
        issuer: %s
        client_metadata_url: %s
        resource: %s
`, proxy, e.b, e.cimdBad, e.resourceB)
}

// clientYAML is A's client at B: the configured confidential client, or
// none (dynamic registration) when e.dynamic is set.
func (e *vaultEnv) clientYAML() string {
	if e.dynamic {
		return ""
	}
	if e.cimd != "" {
		return "        client_metadata_url: " + e.cimd + "\n"
	}
	return "        client_id: gateway-a\n        client_secret: {env: MCPFORT_TEST_VAULT_CLIENT}\n"
}

// recordingTransport keeps every byte of every answer the client gets.
type recordingTransport struct {
	e       *vaultEnv
	token   string
	replica string // host:port to dial instead of the URL's, if set
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+rt.token)
	if rt.replica != "" {
		// Through a load balancer: the public Host, another replica.
		r.Host = r.URL.Host
		r.URL.Host = rt.replica
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	rt.e.mu.Lock()
	for k, vs := range resp.Header {
		fmt.Fprintf(&rt.e.seenByCli, "%s: %s\n", k, strings.Join(vs, ","))
	}
	rt.e.mu.Unlock()
	resp.Body = &teeBody{r: resp.Body, e: rt.e}
	return resp, nil
}

type teeBody struct {
	r io.ReadCloser
	e *vaultEnv
}

func (b *teeBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.e.mu.Lock()
	b.e.seenByCli.Write(p[:n])
	b.e.mu.Unlock()
	return n, err
}

func (b *teeBody) Close() error { return b.r.Close() }

// client connects to A's route as the holder of token, in version
// (2025-11-25 or 2026-07-28), with a URL-mode elicitation handler if
// elicit is set.
func (e *vaultEnv) client(t *testing.T, token, version string, elicit func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error)) (*mcp.ClientSession, error) {
	t.Helper()
	opts := &mcp.ClientOptions{}
	if elicit != nil {
		opts.ElicitationHandler = elicit
		opts.Capabilities = &mcp.ClientCapabilities{Elicitation: &mcp.ElicitationCapabilities{Form: &mcp.FormElicitationCapabilities{}, URL: &mcp.URLElicitationCapabilities{}}}
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "vault-test", Version: "1"}, opts)
	hc := &http.Client{Transport: &recordingTransport{e: e, token: token, replica: e.replicaB}}
	return c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: e.a + "/vault/mcp", HTTPClient: hc, DisableStandaloneSSE: true},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
}

// browser is a user's browser: it follows redirects by hand, signs in at
// B as user (at another host:port as users names) and allows the
// consent.
type browser struct {
	c     *http.Client
	jar   *hostJar
	user  string
	users map[string]string // host:port -> who signs in there
	// stopAt, if set, stops before requesting a URL it matches (to
	// capture the callback).
	stopAt func(*url.URL) bool
}

func newBrowser(user string) *browser {
	jar := &hostJar{jars: map[string]http.CookieJar{}, alias: map[string]string{}}
	return &browser{user: user, jar: jar, users: map[string]string{},
		c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// newBrowserAt is a browser that signs in as userA at link's host (the
// gateway) and as userB elsewhere (the upstream's server).
func newBrowserAt(link, userA, userB string) *browser {
	b := newBrowser(userB)
	if u, err := url.Parse(link); err == nil {
		b.users[u.Host] = userA
	}
	return b
}

// hostJar keeps cookies per host:port, as a browser does for different
// hosts: A and B both listen on 127.0.0.1, where one jar would let B's
// session cookie overwrite A's. alias maps a replica's address to the
// public one.
type hostJar struct {
	mu    sync.Mutex
	jars  map[string]http.CookieJar
	alias map[string]string
}

func (h *hostJar) jar(u *url.URL) http.CookieJar {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := u.Host
	if a, ok := h.alias[k]; ok {
		k = a
	}
	j, ok := h.jars[k]
	if !ok {
		j, _ = cookiejar.New(nil)
		h.jars[k] = j
	}
	return j
}

func (h *hostJar) SetCookies(u *url.URL, cs []*http.Cookie) { h.jar(u).SetCookies(u, cs) }
func (h *hostJar) Cookies(u *url.URL) []*http.Cookie        { return h.jar(u).Cookies(u) }

// open follows link to its end and returns the last page's status and
// body, or the URL it stopped at.
func (b *browser) open(link string) (int, string, *url.URL, error) {
	u, err := url.Parse(link)
	if err != nil {
		return 0, "", nil, err
	}
	resp, err := b.c.Get(u.String())
	for step := 0; step < 12; step++ {
		if err != nil {
			return 0, "", nil, err
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(raw)
		switch {
		case resp.StatusCode == http.StatusFound || resp.StatusCode == http.StatusSeeOther:
			next, perr := u.Parse(resp.Header.Get("Location"))
			if perr != nil {
				return 0, "", nil, perr
			}
			u = next
			if b.stopAt != nil && b.stopAt(u) {
				return 0, "", u, nil
			}
			resp, err = b.c.Get(u.String())
			continue
		case resp.StatusCode == http.StatusOK && (strings.Contains(body, `name="password"`) || strings.Contains(body, `name="decision"`)):
			m1, m2 := reCSRF.FindStringSubmatch(body), reRequest.FindStringSubmatch(body)
			if m1 == nil || m2 == nil {
				return 0, "", nil, errors.New("form without fields")
			}
			form := url.Values{"csrf": {html.UnescapeString(m1[1])}, "request": {html.UnescapeString(m2[1])}}
			action := "/consent"
			if strings.Contains(body, `name="password"`) {
				user := b.user
				if x, ok := b.users[u.Host]; ok {
					user = x
				}
				form.Set("username", user)
				form.Set("password", qsPassword)
				action = "/login"
			} else {
				form.Set("decision", "allow")
			}
			next, _ := u.Parse(action)
			u = next
			resp, err = b.c.PostForm(u.String(), form)
			continue
		}
		return resp.StatusCode, body, u, nil
	}
	return 0, "", nil, errors.New("too many steps")
}

// connect plays the user: opens link, signs in at A as userA (the
// link's user) and at B as userB, consents, and lands on A's callback,
// which must say Connected.
func connect(t *testing.T, link, userA, userB string) {
	t.Helper()
	status, body, _, err := newBrowserAt(link, userA, userB).open(link)
	if err != nil || status != http.StatusOK || !strings.Contains(body, "Connected") {
		t.Fatalf("connect: %d %v %.300s", status, err, body)
	}
}

// elicitedURL reads the link from a -32042 error.
func elicitedURL(t *testing.T, err error) string {
	t.Helper()
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != -32042 {
		t.Fatalf("want URLElicitationRequiredError, got %v", err)
	}
	var data struct {
		Elicitations []struct{ Mode, URL, ElicitationID string }
	}
	if err := json.Unmarshal(rpcErr.Data, &data); err != nil || len(data.Elicitations) != 1 || data.Elicitations[0].Mode != "url" {
		t.Fatalf("error data: %s", rpcErr.Data)
	}
	return data.Elicitations[0].URL
}

func echo(t *testing.T, cs *mcp.ClientSession, text string) {
	t.Helper()
	if err := echoErr(cs, text); err != nil {
		t.Fatal(err)
	}
}

// echoErr calls echo and checks that the text came back through.
func echoErr(cs *mcp.ClientSession, text string) error {
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	if res.IsError || len(res.Content) == 0 || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, text) {
		b, _ := json.Marshal(res)
		return fmt.Errorf("echo result: %s", b)
	}
	return nil
}

var reLink = regexp.MustCompile(`http://127\.0\.0\.1:\d+/oauth/connect/vault\?ticket=[A-Za-z0-9_-]+`)

// TestVaultFlow drives per-user upstream authorization end to end: a
// 2025-11-25 client with URL-mode elicitation, a 2026-07-28 client
// (InputRequiredResult), a client with neither (the link in a tool
// error); refresh before expiry; revocation by the user and by the
// admin; and what must never cross: the client's token upstream, the
// upstream's token to the client, one user's grant to another.
func TestVaultFlow(t *testing.T) {
	e := newVaultEnv(t)
	alice, _ := userToken(t, e.a, "alice", "")
	bob, _ := userToken(t, e.a, "bob", "")

	// 2025-11-25 with URL-mode elicitation: the first call (initialize)
	// is answered -32042 with the link; nothing went upstream.
	_, err := e.client(t, alice, "2025-11-25", func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "cancel"}, nil
	})
	link := elicitedURL(t, err)
	if !strings.HasPrefix(link, e.a+"/oauth/connect/vault?ticket=") {
		t.Fatalf("link %q", link)
	}
	if n := len(e.upstreamAuths()); n != 0 {
		t.Fatalf("%d requests went upstream before the user connected", n)
	}
	connect(t, link, "alice", "carol")
	// The ticket opens once.
	if status, _, _, _ := newBrowserAt(link, "alice", "carol").open(link); status != http.StatusBadRequest {
		t.Fatalf("replayed link: %d", status)
	}
	cs, err := e.client(t, alice, "2025-11-25", func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "cancel"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	echo(t, cs, "legacy-hello")
	cs.Close()
	first := e.upstreamAuths()
	if len(first) == 0 {
		t.Fatal("nothing reached the upstream")
	}

	// The connection is alice's: bob is asked to connect his own, and
	// cannot see or revoke hers.
	_, err = e.client(t, bob, "2025-11-25", func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "cancel"}, nil
	})
	bobLink := elicitedURL(t, err)
	if st, body := connection(t, e, http.MethodGet, bob); st != http.StatusOK || !strings.Contains(body, `"connected":false`) {
		t.Fatalf("bob's view: %d %s", st, body)
	}
	if st, _ := connection(t, e, http.MethodDelete, bob); st != http.StatusNotFound {
		t.Fatalf("bob revoking: %d", st)
	}
	if st, body := connection(t, e, http.MethodGet, alice); st != http.StatusOK || !strings.Contains(body, `"connected":true`) {
		t.Fatalf("alice's view: %d %s", st, body)
	}
	if st, _ := connection(t, e, http.MethodGet, ""); st != http.StatusUnauthorized {
		t.Fatalf("no token: %d", st)
	}

	// 2026-07-28: bob's first call gets an InputRequiredResult with a
	// URL-mode elicitation; the handler plays the browser (as dave at
	// B) and the SDK retries.
	_ = bobLink
	var elicited int
	cs, err = e.client(t, bob, "2026-07-28", func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		elicited++
		if req.Params.Mode != "url" || !reLink.MatchString(req.Params.URL) {
			return nil, fmt.Errorf("elicitation %+v", req.Params)
		}
		connect(t, req.Params.URL, "bob", "dave")
		return &mcp.ElicitResult{Action: "accept"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	echo(t, cs, "modern-hello")
	echo(t, cs, "modern-again")
	cs.Close()
	if elicited != 1 {
		t.Fatalf("%d elicitations", elicited)
	}

	// A client without elicitation: the link comes in a tool error.
	mallory, _ := userToken(t, e.a, "alice", "") // another token of alice: already connected
	cs, err = e.client(t, mallory, "2026-07-28", nil)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, cs, "plain-hello")
	cs.Close()
	// Revocation by the user: her next call asks again, in a tool error
	// for this client.
	auths := e.upstreamAuths()
	aliceAtB := auths[len(auths)-1] // her last call's token at B
	resp := rawPost(t, e.resourceB, strings.TrimPrefix(aliceAtB, "Bearer "), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil)
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		t.Fatal("B refuses her token before the revocation")
	}
	if st, _ := connection(t, e, http.MethodDelete, alice); st != http.StatusNoContent {
		t.Fatalf("alice revoking: %d", st)
	}
	// The gateway revoked it at B too (RFC 7009): B refuses it now.
	resp = rawPost(t, e.resourceB, strings.TrimPrefix(aliceAtB, "Bearer "), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("B after revocation: %d, want 401", resp.StatusCode)
	}
	cs, err = e.client(t, alice, "2026-07-28", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
	if err != nil || !res.IsError || len(res.Content) == 0 || !reLink.MatchString(res.Content[0].(*mcp.TextContent).Text) {
		t.Fatalf("after revocation: %+v %v", res, err)
	}
	connect(t, reLink.FindString(res.Content[0].(*mcp.TextContent).Text), "alice", "carol")
	echo(t, cs, "reconnected")

	// Refresh: B's tokens live 65 s and are refreshed in their last 60,
	// so after 5 s every call refreshes first, concurrent ones once.
	time.Sleep(5500 * time.Millisecond)
	before := len(e.upstreamAuths())
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := echoErr(cs, fmt.Sprintf("concurrent-%d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	cs.Close()
	after := e.upstreamAuths()[before:]
	if len(after) == 0 || after[0] == first[0] {
		t.Fatalf("no refreshed token upstream")
	}

	// What never crossed: A's tokens upstream; B's tokens to the client.
	aTokens := []string{alice, bob, mallory}
	for _, h := range e.upstreamAuths() {
		if !strings.HasPrefix(h, "Bearer ") {
			t.Fatalf("upstream request without the user's token: %q", h)
		}
		for _, at := range aTokens {
			if strings.Contains(h, at) {
				t.Fatal("a client's token reached the upstream")
			}
		}
		e.mu.Lock()
		leaked := bytes.Contains(e.seenByCli.Bytes(), []byte(strings.TrimPrefix(h, "Bearer ")))
		e.mu.Unlock()
		if leaked {
			t.Fatal("an upstream token reached the client")
		}
	}

	// The admin lists and revokes from the command line.
	out, code := mcpfortCLI(t, "vault", "list", "--config", e.configA)
	if code != 0 || !strings.Contains(out, "vault") || !strings.Contains(out, "u_alice") || !strings.Contains(out, "u_bob") {
		t.Fatalf("vault list (%d): %s", code, out)
	}
	out, code = mcpfortCLI(t, "vault", "revoke", "--config", e.configA, "--user", "u_bob", "--route", "vault")
	if code != 0 {
		t.Fatalf("vault revoke (%d): %s", code, out)
	}
	if st, body := connection(t, e, http.MethodGet, bob); st != http.StatusOK || !strings.Contains(body, `"connected":false`) {
		t.Fatalf("bob after the admin's revocation: %d %s", st, body)
	}
	if out, code = mcpfortCLI(t, "vault", "revoke", "--config", e.configA, "--user", "u_bob", "--route", "vault"); code == 0 {
		t.Fatalf("revoking twice succeeded: %s", out)
	}
}

func connection(t *testing.T, e *vaultEnv, method, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.a+"/oauth/connections/vault", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func mcpfortCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "mcpfort"), args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestVaultAttacks: links and authorization responses that are forged,
// replayed, expired, of another route, or brought by another browser are
// refused, and no grant is stored.
func TestVaultAttacks(t *testing.T) {
	e := newVaultEnv(t)
	alice, _ := userToken(t, e.a, "alice", "")
	fresh := func() string {
		t.Helper()
		cs, err := e.client(t, alice, "2026-07-28", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
		if err != nil || !res.IsError {
			t.Fatalf("%+v %v", res, err)
		}
		return reLink.FindString(res.Content[0].(*mcp.TextContent).Text)
	}
	get := func(u string) int {
		t.Helper()
		status, _, _, err := newBrowser("carol").open(u)
		if err != nil {
			t.Fatal(err)
		}
		return status
	}
	// Clients without URL-mode elicitation get the link in an error: a
	// 2025-11-25 one at initialize, a 2026-07-28 one for a list.
	bob, _ := userToken(t, e.a, "bob", "")
	if _, err := e.client(t, bob, "2025-11-25", nil); err == nil || !reLink.MatchString(err.Error()) {
		t.Fatalf("legacy client without elicitation: %v", err)
	}
	cs, err := e.client(t, bob, "2026-07-28", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.ListTools(context.Background(), nil); err == nil || !reLink.MatchString(err.Error()) {
		t.Fatalf("tools/list without a grant: %v", err)
	}
	cs.Close()

	link := fresh()
	lu, _ := url.Parse(link)
	ticket := lu.Query().Get("ticket")

	// Forged and altered tickets.
	for name, tk := range map[string]string{
		"random":  base64.RawURLEncoding.EncodeToString([]byte(rand.Text() + rand.Text())),
		"flipped": flip(ticket),
		"empty":   "",
	} {
		if st := get(e.a + "/oauth/connect/vault?ticket=" + url.QueryEscape(tk)); st != http.StatusBadRequest {
			t.Errorf("%s ticket: %d", name, st)
		}
	}
	// A ticket is bound to its route (additional data).
	if st := get(e.a + "/oauth/connect/other?ticket=" + ticket); st != http.StatusNotFound && st != http.StatusBadRequest {
		t.Errorf("other route: %d", st)
	}
	// An expired ticket, sealed with A's key-encryption key as A would
	// seal it.
	k, err := keys.ParseKEK(os.Getenv("MCPFORT_TEST_KEK"))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := json.Marshal(map[string]any{"i": e.a, "s": "u_alice", "r": "vault", "e": time.Now().Add(-time.Second).Unix(), "n": "expired-nonce"})
	sealed, err := keys.SealSecret(k, old, "mcpfort vault ticket v1\x00vault")
	if err != nil {
		t.Fatal(err)
	}
	if st := get(e.a + "/oauth/connect/vault?ticket=" + base64.RawURLEncoding.EncodeToString(sealed)); st != http.StatusBadRequest {
		t.Errorf("expired ticket: %d", st)
	}
	// The same, not expired, opens: the check above is the expiry's.
	ok, _ := json.Marshal(map[string]any{"i": e.a, "s": "u_alice", "r": "vault", "e": time.Now().Add(time.Minute).Unix(), "n": "fresh-nonce"})
	sealed, _ = keys.SealSecret(k, ok, "mcpfort vault ticket v1\x00vault")
	b := newBrowserAt(e.a, "alice", "carol")
	b.stopAt = func(u *url.URL) bool { return strings.HasPrefix(u.String(), e.a+"/oauth/connect/callback") }
	if _, _, stop, err := b.open(e.a + "/oauth/connect/vault?ticket=" + base64.RawURLEncoding.EncodeToString(sealed)); err != nil || stop == nil {
		t.Fatalf("a well-sealed ticket: %v %v", stop, err)
	}

	// The callback: stop the browser before it lands, then try what an
	// attacker could do with the response.
	b = newBrowserAt(link, "alice", "carol")
	b.stopAt = func(u *url.URL) bool { return strings.HasPrefix(u.String(), e.a+"/oauth/connect/callback") }
	_, _, cb, err := b.open(link)
	if err != nil || cb == nil || cb.Query().Get("code") == "" {
		t.Fatalf("no callback: %v %v", cb, err)
	}
	// Another browser (no cookie from the start): refused.
	if st, _, _, _ := newBrowser("carol").open(cb.String()); st != http.StatusBadRequest {
		t.Errorf("callback in another browser: %d", st)
	}
	// A forged state.
	q := cb.Query()
	q.Set("state", flip(q.Get("state")))
	forged := *cb
	forged.RawQuery = q.Encode()
	if st, _, _, _ := (&browser{c: b.c}).open(forged.String()); st != http.StatusBadRequest {
		t.Errorf("forged state: %d", st)
	}
	// Another issuer named in the response (RFC 9207).
	q = cb.Query()
	q.Set("iss", "http://127.0.0.1:1")
	mixed := *cb
	mixed.RawQuery = q.Encode()
	if st, _, _, _ := (&browser{c: b.c}).open(mixed.String()); st != http.StatusBadRequest {
		t.Errorf("mix-up: %d", st)
	}
	if st, body := connection(t, e, http.MethodGet, alice); !strings.Contains(body, `"connected":false`) {
		t.Fatalf("a refused response stored a grant: %d %s", st, body)
	}
	// The real browser completes it once; a replay is refused.
	if st, body, _, _ := (&browser{c: b.c}).open(cb.String()); st != http.StatusOK || !strings.Contains(body, "Connected") {
		t.Fatalf("callback: %d %s", st, body)
	}
	if st, _, _, _ := (&browser{c: b.c}).open(cb.String()); st != http.StatusBadRequest {
		t.Errorf("replayed callback: %d", st)
	}
	if n := len(e.upstreamAuths()); n != 0 {
		t.Fatalf("%d requests reached the upstream during the attacks", n)
	}
}

// flip changes one character in the middle of s.
func flip(s string) string {
	if s == "" {
		return "A"
	}
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestVaultReplicas: two replicas of A share PostgreSQL and the
// key-encryption key behind one public URL. The link from one is served
// by the other, the callback lands on either, calls through both use the
// grant, and when the token must be refreshed, concurrent calls on both
// replicas refresh it once (B revokes the whole grant when a rotated
// refresh token is used twice).
func TestVaultReplicas(t *testing.T) {
	e := newVaultEnv(t) // replica 1 on SQLite; the PostgreSQL pair below
	dsn := pgSchema(t)
	p1, p2 := freePort(t), freePort(t)
	e.a = fmt.Sprintf("http://127.0.0.1:%d", p1) // the public URL: replica 1's address
	cfg1 := loadWithUsers(t, e.writeA(t, p1, e.proxy, dsn), map[string][]string{"alice": nil})
	cfg1.PublicURL = e.a
	_, stop1 := start(t, cfg1)
	t.Cleanup(stop1)
	cfg2, err := config.Load(e.writeA(t, p2, e.proxy, dsn))
	if err != nil {
		t.Fatal(err)
	}
	_, stop2 := start(t, cfg2)
	t.Cleanup(stop2)
	replica2 := fmt.Sprintf("127.0.0.1:%d", p2)
	e.upstream = nil
	alice, _ := userToken(t, e.a, "alice", "")

	// Asked through replica 2; the link is public (replica 1's address).
	e.replicaB = replica2
	_, err = e.client(t, alice, "2025-11-25", func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "cancel"}, nil
	})
	link := elicitedURL(t, err)
	// The browser starts on replica 1 and the callback lands on replica 2.
	b := newBrowserAt(link, "alice", "carol")
	b.stopAt = func(u *url.URL) bool { return strings.HasPrefix(u.String(), e.a+"/oauth/connect/callback") }
	_, _, cb, err := b.open(link)
	if err != nil || cb == nil {
		t.Fatalf("no callback: %v", err)
	}
	b.jar.alias[replica2] = cb.Host // one public origin, two replicas
	cb.Host = replica2
	if st, body, _, _ := (&browser{c: b.c}).open(cb.String()); st != http.StatusOK || !strings.Contains(body, "Connected") {
		t.Fatalf("callback on replica 2: %d %s", st, body)
	}
	// Calls through either replica use the grant.
	var sessions []*mcp.ClientSession
	for _, r := range []string{"", replica2} {
		e.replicaB = r
		cs, err := e.client(t, alice, "2026-07-28", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		echo(t, cs, "replica"+r)
		sessions = append(sessions, cs)
	}
	// After 5 s every call refreshes first: 8 concurrent calls, half on
	// each replica, must all succeed.
	time.Sleep(5500 * time.Millisecond)
	before := len(e.upstreamAuths())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := echoErr(sessions[i%2], fmt.Sprintf("both-%d", i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	after := e.upstreamAuths()[before:]
	if len(after) == 0 || after[len(after)-1] == e.upstreamAuths()[0] {
		t.Fatal("no refreshed token upstream")
	}
}

// TestVaultDynamicRegistration: without a configured client, the gateway
// registers at B (RFC 7591) as a public client and completes the flow
// with PKCE alone; refresh works for that client too.
func TestVaultDynamicRegistration(t *testing.T) {
	e := newVaultEnvWith(t, &vaultEnv{dynamic: true})
	alice, _ := userToken(t, e.a, "alice", "")
	cs, err := e.client(t, alice, "2026-07-28", func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		connect(t, req.Params.URL, "alice", "carol")
		return &mcp.ElicitResult{Action: "accept"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	echo(t, cs, "registered")
	first := e.upstreamAuths()
	time.Sleep(5500 * time.Millisecond)
	echo(t, cs, "refreshed")
	if last := e.upstreamAuths(); last[len(last)-1] == first[len(first)-1] {
		t.Fatal("not refreshed")
	}
}

// TestVaultBrowserIdentity: a connect link connects only a browser signed
// in at A as the link's user (MCP 2025-11-25 client/elicitation, Security
// Considerations, Phishing). Alice forwards her link to Bob: Bob's
// browser must not connect Bob's account at B to Alice.
func TestVaultBrowserIdentity(t *testing.T) {
	e := newVaultEnv(t)
	alice, _ := userToken(t, e.a, "alice", "")
	bob, _ := userToken(t, e.a, "bob", "")
	linkFor := func(tok string) string {
		t.Helper()
		cs, err := e.client(t, tok, "2026-07-28", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cs.Close()
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
		if err != nil || !res.IsError || !reLink.MatchString(res.Content[0].(*mcp.TextContent).Text) {
			t.Fatalf("%+v %v", res, err)
		}
		return reLink.FindString(res.Content[0].(*mcp.TextContent).Text)
	}
	connected := func(tok string) bool {
		t.Helper()
		_, body := connection(t, e, http.MethodGet, tok)
		return strings.Contains(body, `"connected":true`)
	}

	// (1) Bob's browser is signed in at A as bob (he connected his own
	// account, dave at B). Alice's link, opened there, is refused before
	// anything reaches B: nothing is stored for Alice.
	bobBrowser := newBrowserAt(e.a, "bob", "dave")
	if st, body, _, err := bobBrowser.open(linkFor(bob)); err != nil || st != http.StatusOK || !strings.Contains(body, "Connected") {
		t.Fatalf("bob's own link: %d %v %.300s", st, err, body)
	}
	aliceLink := linkFor(alice)
	st, body, _, err := bobBrowser.open(aliceLink)
	if err != nil || st != http.StatusForbidden || !strings.Contains(body, "Wrong account") {
		t.Fatalf("alice's link in bob's browser: %d %v %.300s", st, err, body)
	}
	if connected(alice) {
		t.Fatal("alice's link opened by bob connected an account to alice")
	}
	// The refused link was not spent: Alice's own browser completes it,
	// with her account at B (carol), and her calls go out as carol.
	connect(t, aliceLink, "alice", "carol")
	if !connected(alice) {
		t.Fatal("alice not connected")
	}
	cs, err := e.client(t, alice, "2026-07-28", nil)
	if err != nil {
		t.Fatal(err)
	}
	echo(t, cs, "as-carol")
	cs.Close()

	// (2) A browser with no session is sent to sign in at A and back;
	// signed in as the link's user it completes (connect above), as
	// another user it is refused.
	revoke := func(tok string) {
		t.Helper()
		if st, body := connection(t, e, http.MethodDelete, tok); st != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", st, body)
		}
	}
	revoke(alice)
	link := linkFor(alice)
	fresh := newBrowser("carol")
	resp, err := fresh.c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Path != "/login" || loc.Query().Get("return") != link {
		t.Fatalf("no session: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	wrong := newBrowserAt(link, "bob", "dave")
	if st, body, _, err := wrong.open(link); err != nil || st != http.StatusForbidden || !strings.Contains(body, "Wrong account") {
		t.Fatalf("signed in as bob: %d %v %.300s", st, err, body)
	}
	if connected(alice) {
		t.Fatal("connected after a sign-in as another user")
	}
	connect(t, link, "alice", "carol")

	// The callback checks the session again: a browser that started as
	// alice and is signed in as bob by the time B answers is refused.
	revoke(alice)
	link = linkFor(alice)
	b := newBrowserAt(link, "alice", "carol")
	b.stopAt = func(u *url.URL) bool { return strings.HasPrefix(u.String(), e.a+"/oauth/connect/callback") }
	_, _, cb, err := b.open(link)
	if err != nil || cb == nil {
		t.Fatalf("no callback: %v", err)
	}
	b.users[cb.Host] = "bob"
	b.stopAt = nil
	// Sign the same browser in again, as bob (the ticket is alice's: 403).
	b.jar.jars[cb.Host].SetCookies(cb, []*http.Cookie{{Name: "mcpfort-session", Value: "", Path: "/", MaxAge: -1}})
	if st, _, _, _ := b.open(link); st != http.StatusForbidden {
		t.Fatalf("re-sign-in as bob: %d", st)
	}
	if st, body, _, _ := b.open(cb.String()); st != http.StatusForbidden || !strings.Contains(body, "Wrong account") {
		t.Fatalf("callback after switching user: %d %.300s", st, body)
	}
	if connected(alice) {
		t.Fatal("callback stored a grant for another browser user")
	}

	// (3) The sign-in page returns only under the connect path of this
	// origin: no open redirect, signed in or not.
	host, _ := url.Parse(e.a)
	for _, ret := range []string{
		"https://evil.example/oauth/connect/vault",
		"//evil.example/oauth/connect/vault",
		"/oauth/connect/vault",
		"http://evil.example/" + e.a + "/oauth/connect/vault",
		"http://" + host.Hostname() + ":1/oauth/connect/vault",
		e.a + "@evil.example/oauth/connect/vault",
		e.a + "/oauth/connect/../../admin",
		e.a + "/oauth/connect/%2e%2e/x",
		e.a + "/oauth/connect\\@evil.example",
		e.a + "/other",
		e.a + "/oauth/connect/vault#@evil.example",
		"javascript:alert(1)//" + e.a + "/oauth/connect/",
		"",
	} {
		for _, br := range []*browser{newBrowser("alice"), b} {
			resp, err := br.c.Get(e.a + "/login?return=" + url.QueryEscape(ret))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
				t.Errorf("return %q: %d %q", ret, resp.StatusCode, resp.Header.Get("Location"))
			}
		}
	}
	// A signed-in browser goes straight back to an allowed return.
	resp, err = b.c.Get(e.a + "/login?return=" + url.QueryEscape(link))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != link {
		t.Fatalf("signed in: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestVaultRefusalsAudited: a call the token vault answers (a user without
// a grant, asked to connect) is a decision, and the audit log records it
// like any other: nothing went upstream, the record is there.
func TestVaultRefusalsAudited(t *testing.T) {
	e := newVaultEnv(t)
	alice, _ := userToken(t, e.a, "alice", "")
	// 2025-11-25 with URL-mode elicitation: initialize is answered -32042.
	_, err := e.client(t, alice, "2025-11-25", func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
		return &mcp.ElicitResult{Action: "cancel"}, nil
	})
	elicitedURL(t, err)
	// 2026-07-28 without elicitation: tools/call gets the link in a tool error.
	cs, err := e.client(t, alice, "2026-07-28", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "x"}})
	if err != nil || !res.IsError {
		t.Fatalf("tools/call without a grant: %+v %v", res, err)
	}
	cs.Close()
	if n := len(e.upstreamAuths()); n != 0 {
		t.Fatalf("%d requests went upstream", n)
	}
	// Records are durable before their answers: export sees them now.
	out, err := exec.Command(filepath.Join(binDir, "mcpfort"), "audit", "export", "--config", e.configA).CombinedOutput()
	if err != nil {
		t.Fatalf("audit export: %v\n%s", err, out)
	}
	var initialize, call bool
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			Server, Method, Tool, Subject, Status string
			ErrorCode                             int64 `json:"error_code"`
		}
		if json.Unmarshal([]byte(line), &r) != nil || r.Server != "vault" || r.Subject == "" {
			continue
		}
		switch {
		case r.Method == "initialize" && r.ErrorCode == -32042:
			initialize = true
		case r.Method == "tools/call" && r.Tool == "echo":
			call = true
		}
	}
	if !initialize || !call {
		t.Fatalf("audit records of the vault's answers: initialize %v, tools/call %v\n%s", initialize, call, out)
	}
}
