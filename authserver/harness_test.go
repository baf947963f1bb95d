package authserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
	"github.com/mcpfort/mcpfort/storage/sqlite"
)

// testClock is a settable clock shared by the server and the test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

const (
	resMCP   = "https://mcp.example.com/mcp"
	resOther = "https://other.example.com/mcp"
	// Static test clients.
	publicClient = "cli"
	publicCB     = "http://127.0.0.1/callback"
	confClient   = "svc"
	confSecret   = "0123456789abcdef0123456789abcdef-secret"
	gwClient     = "gateway"
	gwSecret     = "gateway-secret-gateway-secret-gateway-secret"
	rsClient     = "resource-server"
	rsSecret     = "resource-server-secret-resource-server"
	adminGroup   = "admins"
	userName     = "alice"
	userPass     = "correct horse battery staple"
)

type env struct {
	t     *testing.T
	srv   *Server
	ts    *httptest.Server
	store storage.Store
	clock *testClock
	user  *storage.User
	// lastRedirect is the final redirect of the last authorize call.
	lastRedirect string
	opts         Options
}

// newEnv starts an authorization server on a loopback httptest server
// with SQLite storage, two resources, static clients and one user.
func newEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String()
	return startEnv(t, ts, issuer, mod)
}

func startEnv(t *testing.T, ts *httptest.Server, issuer string, mod func(*Options)) *env {
	t.Helper()
	store, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(t.TempDir(), "as.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	kek := make([]byte, keys.KEKSize)
	rand.Read(kek)
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	opts := Options{
		Issuer: issuer, Store: store, KeyEncryptionKey: kek, Now: clock.Now,
		Resources: []Resource{
			{URI: resMCP, Name: "Example MCP", Scopes: []string{"mcp:tools", "mcp:admin"}, DefaultScopes: []string{"mcp:tools"},
				Grants:            []Grant{{Scopes: []string{"mcp:admin"}, Groups: []string{adminGroup}}},
				ScopeDescriptions: map[string]string{"mcp:tools": "Use the tools"}},
			{URI: resOther, Scopes: []string{"other:read"}},
		},
		DefaultResource: resMCP,
		Clients: []StaticClient{
			{ID: publicClient, Name: "CLI", RedirectURIs: []string{publicCB, "https://app.example/cb"}},
			{ID: confClient, Name: "Service", Secret: confSecret, GrantTypes: []string{oauth.GrantClientCredentials},
				Resources: []string{resMCP, resOther}, Scopes: []string{"mcp:tools", "other:read"}},
			{ID: gwClient, Name: "Gateway", Secret: gwSecret, GrantTypes: []string{oauth.GrantTokenExchange}, Resources: []string{resMCP, resOther}},
			{ID: rsClient, Name: "Resource server", Secret: rsSecret, GrantTypes: []string{oauth.GrantClientCredentials},
				Resources: []string{resMCP}, ResourceServer: true},
		},
		CIMD: CIMDOptions{InsecureAllowLoopback: true},
	}
	if mod != nil {
		mod(&opts)
	}
	srv, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	if ts.TLS != nil || strings.HasPrefix(issuer, "https") {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	t.Cleanup(ts.Close)
	hash, err := HashPassword(userPass)
	if err != nil {
		t.Fatal(err)
	}
	u := &storage.User{ID: "user-alice", Username: userName, PasswordHash: hash, Groups: []string{adminGroup}, CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
	if err := store.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, ts: ts, store: store, clock: clock, user: u, opts: opts}
}

func (e *env) url(p string) string { return e.srv.origin + p }

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so each hop can be inspected.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := e.ts.Client()
	return &http.Client{Transport: c.Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var (
	reCSRF    = regexp.MustCompile(`name="csrf" value="([^"]*)"`)
	reRequest = regexp.MustCompile(`name="request" value="([^"]*)"`)
)

// formFields extracts the hidden csrf and request fields of a page.
func formFields(t *testing.T, body string) (csrf, req string) {
	t.Helper()
	m1, m2 := reCSRF.FindStringSubmatch(body), reRequest.FindStringSubmatch(body)
	if m1 == nil {
		t.Fatalf("no csrf field in page:\n%s", body)
	}
	if m2 != nil {
		req = html.UnescapeString(m2[1])
	}
	return html.UnescapeString(m1[1]), req
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pkce returns a verifier and its S256 challenge.
func pkce() (string, string) {
	v := rand.Text() + rand.Text()
	return v, oauth.S256Challenge(v)
}

// authzParams is a valid authorization request for the public client.
func authzParams(challenge string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {publicClient}, "redirect_uri": {"http://127.0.0.1:4567/callback"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "state": {"xyz"}, "resource": {resMCP},
		"scope": {"mcp:tools"},
	}
}

// authorize drives the browser through sign-in and consent and returns the
// final redirect's query.
func (e *env) authorize(b *http.Client, params url.Values) url.Values {
	e.t.Helper()
	resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + params.Encode())
	if err != nil {
		e.t.Fatal(err)
	}
	for range 4 {
		switch resp.StatusCode {
		case http.StatusFound, http.StatusSeeOther:
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil {
				e.t.Fatal(err)
			}
			resp.Body.Close()
			e.lastRedirect = loc.String()
			return loc.Query()
		case http.StatusOK:
			body := readBody(e.t, resp)
			csrf, req := formFields(e.t, body)
			switch {
			case strings.Contains(body, `name="password"`):
				resp = e.post(b, e.srv.endpoints.login, url.Values{"csrf": {csrf}, "request": {req}, "username": {userName}, "password": {userPass}})
			case strings.Contains(body, `name="decision"`):
				resp = e.post(b, e.srv.endpoints.consent, url.Values{"csrf": {csrf}, "request": {req}, "decision": {"allow"}})
			default:
				e.t.Fatalf("unexpected page:\n%s", body)
			}
		default:
			e.t.Fatalf("authorize: status %d: %s", resp.StatusCode, readBody(e.t, resp))
		}
	}
	e.t.Fatal("authorization did not finish")
	return nil
}

func (e *env) post(b *http.Client, path string, v url.Values) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.srv.origin)
	resp, err := b.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// tokenCall posts to the token endpoint (or another form endpoint) and
// decodes the JSON answer.
type tokenCall struct {
	path   string
	form   url.Values
	basic  [2]string
	header map[string]string
	raw    string // overrides form
	ctype  string
}

type tokenResult struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) call(tc tokenCall) tokenResult {
	e.t.Helper()
	path := tc.path
	if path == "" {
		path = e.srv.endpoints.token
	}
	body := tc.form.Encode()
	if tc.raw != "" {
		body = tc.raw
	}
	req, _ := http.NewRequest(http.MethodPost, e.url(path), strings.NewReader(body))
	ct := tc.ctype
	if ct == "" {
		ct = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", ct)
	if tc.basic[0] != "" {
		req.SetBasicAuth(url.QueryEscape(tc.basic[0]), url.QueryEscape(tc.basic[1]))
	}
	for k, v := range tc.header {
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	raw := readBody(e.t, resp)
	res := tokenResult{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal([]byte(raw), &res.body); err != nil {
			e.t.Fatalf("decode %q: %v", raw, err)
		}
	}
	return res
}

func (r tokenResult) str(k string) string {
	s, _ := r.body[k].(string)
	return s
}

// redeem exchanges a code for the public client.
func (e *env) redeem(code, verifier string, extra url.Values) tokenResult {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
		"client_id": {publicClient}, "redirect_uri": {"http://127.0.0.1:4567/callback"}}
	for k, v := range extra {
		f[k] = v
	}
	return e.call(tokenCall{form: f})
}

// login runs a full authorization for the public client and returns the
// token response.
func (e *env) login(b *http.Client) tokenResult {
	e.t.Helper()
	v, c := pkce()
	q := e.authorize(b, authzParams(c))
	if q.Get("code") == "" {
		e.t.Fatalf("no code: %v", q)
	}
	res := e.redeem(q.Get("code"), v, nil)
	if res.status != 200 {
		e.t.Fatalf("redeem: %d %s", res.status, res.raw)
	}
	return res
}

func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	res := e.call(tokenCall{path: e.srv.endpoints.introspect, form: url.Values{"token": {token}}, basic: [2]string{rsClient, rsSecret}})
	if res.status != 200 {
		e.t.Fatalf("introspect: %d %s", res.status, res.raw)
	}
	return res.body
}

func decodeB64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func newTLSUnstarted() *httptest.Server {
	ts := httptest.NewUnstartedServer(nil)
	ts.TLS = nil
	ts.EnableHTTP2 = false
	return ts
}

// authorizeURL drives the browser from a full authorization URL and
// returns the final redirect URL (the client's redirect URI with code).
func (e *env) authorizeURL(b *http.Client, authURL string) string {
	e.t.Helper()
	u, err := url.Parse(authURL)
	if err != nil {
		e.t.Fatal(err)
	}
	e.authorize(b, u.Query())
	return e.lastRedirect
}
