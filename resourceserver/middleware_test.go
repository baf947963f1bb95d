package resourceserver

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rsEnv is a protected resource on real loopback HTTP: a test issuer, a
// JWT verifier behind a cache, the middleware and the metadata handler.
type rsEnv struct {
	iss      *testIssuer
	clk      *clock
	srv      *httptest.Server
	resource string
	sibling  string
	mw       *Middleware
	logs     *bytes.Buffer
	seen     chan seenRequest
}

type seenRequest struct {
	principal *Principal
	authz     []string
}

func newRSEnv(t *testing.T, scopes []string) *rsEnv {
	t.Helper()
	e := &rsEnv{iss: newTestIssuer(t, ""), clk: newClock(), logs: &bytes.Buffer{}, seen: make(chan seenRequest, 1)}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	e.resource = e.srv.URL + "/mcp"
	e.sibling = e.srv.URL + "/other/mcp"
	jv, err := NewJWTVerifier(JWTOptions{
		Issuer:    e.iss.issuer,
		Audiences: []string{e.resource, e.sibling},
		Now:       e.clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := NewCache(jv, CacheOptions{Now: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.mw, err = NewMiddleware(MiddlewareOptions{
		Verifier: cache,
		Resource: e.resource,
		Scopes:   scopes,
		Logger:   slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	prm, err := NewMetadataHandler(MetadataOptions{
		Resource:             e.resource,
		AuthorizationServers: []string{e.iss.issuer},
		ScopesSupported:      []string{"mcp:tools"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prm.Paths() {
		mux.Handle(p, prm)
	}
	mux.Handle("/mcp", e.mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.seen <- seenRequest{principal: PrincipalFromContext(r.Context()), authz: r.Header.Values("Authorization")}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})))
	return e
}

type response struct {
	status int
	header http.Header
	body   string
}

func (e *rsEnv) do(t *testing.T, target string, authz ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for _, a := range authz {
		req.Header.Add("Authorization", a)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestMiddlewareHostileInput(t *testing.T) {
	e := newRSEnv(t, []string{"mcp:tools"})
	now := e.clk.Now()
	valid := func() map[string]any { return e.iss.claims(now, e.resource) }
	with := func(k string, v any) map[string]any {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	es, rs, ed := e.iss.key("es"), e.iss.key("rs"), e.iss.key("ed")
	// A key the issuer never published, under a published kid.
	forged := signingKey{kid: "es", alg: "ES256", priv: newPrivateKey(t, "ES256")}
	rsaPub, err := x509.MarshalPKIXPublicKey(rs.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	validClaims := mustJSON(t, valid())
	md := e.srv.URL + "/.well-known/oauth-protected-resource/mcp"

	type want struct {
		status int
		errc   string // error attribute of the challenge; "" = none
		scope  string
	}
	bearer := func(tok string) []string { return []string{"Bearer " + tok} }
	tests := []struct {
		name   string
		target string // path and query; default /mcp
		authz  []string
		want   want
	}{
		{"missing", "", nil, want{401, "", "mcp:tools"}},
		{"other scheme", "", []string{"Basic dXNlcjpwYXNz"}, want{401, "", "mcp:tools"}},
		{"bearer without token", "", []string{"Bearer"}, want{400, "invalid_request", "mcp:tools"}},
		{"bearer with spaces inside", "", []string{"Bearer abc def"}, want{400, "invalid_request", "mcp:tools"}},
		{"bearer with a quote", "", []string{`Bearer abc"def`}, want{400, "invalid_request", "mcp:tools"}},
		{"two authorization headers", "", append(bearer(sign(t, es, valid(), nil)), "Bearer x"), want{400, "invalid_request", "mcp:tools"}},
		{"token in query", "/mcp?access_token=abc", nil, want{400, "invalid_request", "mcp:tools"}},
		{"token in query and header", "/mcp?access_token=abc", bearer(sign(t, es, valid(), nil)), want{400, "invalid_request", "mcp:tools"}},
		{"token in percent-encoded query", "/mcp?x=1&access%5Ftoken=abc", nil, want{400, "invalid_request", "mcp:tools"}},
		{"oversized header", "", bearer(strings.Repeat("a", DefaultMaxTokenBytes+1)), want{400, "invalid_request", "mcp:tools"}},
		{"malformed token", "", bearer("abc.def"), want{401, "invalid_token", "mcp:tools"}},
		{"garbage jwt", "", bearer("eyJhbGciOiJFUzI1NiJ9.e30.AAAA"), want{401, "invalid_token", "mcp:tools"}},
		{"alg none unsigned", "", bearer(unsigned(`{"alg":"none","typ":"at+jwt"}`, validClaims, "")), want{401, "invalid_token", "mcp:tools"}},
		{"alg none with signature", "", bearer(unsigned(`{"alg":"none","typ":"at+jwt","kid":"es"}`, validClaims, "AAAA")), want{401, "invalid_token", "mcp:tools"}},
		{"HS256 keyed with the RSA public key", "", bearer(hs256(`{"alg":"HS256","typ":"at+jwt","kid":"rs"}`, validClaims, rsaPub)), want{401, "invalid_token", "mcp:tools"}},
		{"wrongly signed", "", bearer(sign(t, forged, valid(), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"signature of another token", "", bearer(func() string {
			a := strings.Split(sign(t, es, valid(), nil), ".")
			b := strings.Split(sign(t, es, with("sub", "admin"), nil), ".")
			return a[0] + "." + b[1] + "." + a[2]
		}()), want{401, "invalid_token", "mcp:tools"}},
		{"expired", "", bearer(sign(t, es, with("exp", now.Add(-time.Minute).Unix()), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"no exp", "", bearer(sign(t, es, with("exp", nil), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"not yet valid", "", bearer(sign(t, es, with("nbf", now.Add(time.Hour).Unix()), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"issued in the future", "", bearer(sign(t, es, with("iat", now.Add(time.Hour).Unix()), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"wrong issuer", "", bearer(sign(t, es, with("iss", "https://evil.example"), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"issuer with trailing slash", "", bearer(sign(t, es, with("iss", e.iss.issuer+"/"), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"wrong audience", "", bearer(sign(t, es, with("aud", "https://other.example/mcp"), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"sibling audience", "", bearer(sign(t, es, with("aud", e.sibling), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"no audience", "", bearer(sign(t, es, with("aud", nil), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"id token typ", "", bearer(sign(t, es, valid(), map[string]any{"typ": "JWT"})), want{401, "invalid_token", "mcp:tools"}},
		{"crit header", "", bearer(sign(t, es, valid(), map[string]any{"crit": []string{"exp"}, "exp": 1})), want{401, "invalid_token", "mcp:tools"}},
		{"unknown kid", "", bearer(sign(t, signingKey{kid: "nope", alg: "ES256", priv: forged.priv}, valid(), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"kid of a key of another type", "", bearer(sign(t, signingKey{kid: "rs", alg: "ES256", priv: forged.priv}, valid(), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"no subject or client", "", bearer(sign(t, es, func() map[string]any { c := with("sub", nil); delete(c, "client_id"); return c }(), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"client only", "", bearer(sign(t, es, with("sub", nil), nil)), want{200, "", ""}},
		{"insufficient scope", "", bearer(sign(t, es, with("scope", "mcp:resources"), nil)), want{403, "insufficient_scope", "mcp:tools"}},
		{"no scope", "", bearer(sign(t, es, with("scope", nil), nil)), want{403, "insufficient_scope", "mcp:tools"}},
		{"scope claim with a quote", "", bearer(sign(t, es, with("scope", `mcp:tools x"y`), nil)), want{401, "invalid_token", "mcp:tools"}},
		{"valid ES256", "", bearer(sign(t, es, valid(), nil)), want{200, "", ""}},
		{"valid RS256", "", bearer(sign(t, rs, with("jti", "rs"), nil)), want{200, "", ""}},
		{"valid EdDSA", "", bearer(sign(t, ed, with("jti", "ed"), nil)), want{200, "", ""}},
		{"typ application/at+jwt", "", bearer(sign(t, es, with("jti", "typ2"), map[string]any{"typ": "application/AT+JWT"})), want{200, "", ""}},
		{"lowercase scheme", "", []string{"bearer " + sign(t, es, with("jti", "lc"), nil)}, want{200, "", ""}},
		{"expired within leeway", "", bearer(sign(t, es, with("exp", now.Add(-10*time.Second).Unix()), nil)), want{200, "", ""}},
		{"broader scope satisfies", "", bearer(sign(t, es, with("scope", "mcp"), nil)), want{200, "", ""}},
		{"scp array", "", bearer(sign(t, es, func() map[string]any { c := with("scope", nil); c["scp"] = []string{"mcp:tools"}; return c }(), nil)), want{200, "", ""}},
		{"audience with uppercase host", "", bearer(sign(t, es, with("aud", []string{"https://x.example", strings.Replace(e.resource, "http://", "HTTP://", 1)}), nil)), want{200, "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := e.srv.URL + "/mcp"
			if tt.target != "" {
				target = e.srv.URL + tt.target
			}
			e.logs.Reset()
			r := e.do(t, target, tt.authz...)
			var tok string
			if len(tt.authz) > 0 {
				tok, _ = strings.CutPrefix(tt.authz[0], "Bearer ")
				if len(tok) < 8 {
					tok = "" // too short to tell apart from other text
				}
			}
			hasNoToken(t, "log", e.logs.String(), tok)
			hasNoToken(t, "body", r.body, tok)
			if r.status != tt.want.status {
				t.Fatalf("status %d, want %d; body %s; challenge %q", r.status, tt.want.status, r.body, r.header.Get("WWW-Authenticate"))
			}
			if r.header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q, want application/json", r.header.Get("Content-Type"))
			}
			if !json.Valid([]byte(r.body)) {
				t.Errorf("body is not JSON: %q", r.body)
			}
			if r.status == 200 {
				s := <-e.seen
				if s.principal == nil {
					t.Fatal("no principal in the context")
				}
				if len(s.authz) != 0 {
					t.Errorf("the Authorization header reached the handler: %q", s.authz)
				}
				return
			}
			ch := r.header.Values("WWW-Authenticate")
			if len(ch) != 1 {
				t.Fatalf("WWW-Authenticate %q, want one challenge", ch)
			}
			c, err := ParseChallenge(ch[0])
			if err != nil {
				t.Fatalf("ParseChallenge(%q): %v", ch[0], err)
			}
			got := want{r.status, string(c.Error), strings.Join(c.Scopes, " ")}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("challenge %q (-want +got):\n%s", ch[0], diff)
			}
			if c.ResourceMetadata != md {
				t.Errorf("resource_metadata %q, want %q", c.ResourceMetadata, md)
			}
			var body map[string]string
			if err := json.Unmarshal([]byte(r.body), &body); err != nil {
				t.Fatal(err)
			}
			if body["error"] != tt.want.errc {
				t.Errorf("body error %q, want %q", body["error"], tt.want.errc)
			}
		})
	}
}

func TestMiddlewarePrincipal(t *testing.T) {
	e := newRSEnv(t, nil)
	now := e.clk.Now()
	c := e.iss.claims(now, e.resource)
	c["aud"] = []string{e.resource, "https://x.example"}
	c["scope"] = "b a b"
	r := e.do(t, e.srv.URL+"/mcp", "Bearer "+sign(t, e.iss.key("ed"), c, nil))
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	got := (<-e.seen).principal
	want := &Principal{
		Issuer:   e.iss.issuer,
		Subject:  "user-1",
		ClientID: "client-1",
		Scopes:   []string{"b", "a"},
		Audience: []string{e.resource, "https://x.example"},
		Expiry:   time.Unix(now.Add(5*time.Minute).Unix(), 0),
		IssuedAt: time.Unix(now.Unix(), 0),
		TokenID:  "jti-1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("principal (-want +got):\n%s", diff)
	}
	if got.Identity() == (&Principal{Issuer: got.Issuer, Subject: got.Subject}).Identity() {
		t.Error("Identity ignores the client")
	}
}

// TestMiddlewareDoesNotModifyRequest: the caller's header map keeps its
// Authorization field; only the copy handed on loses it.
func TestMiddlewareDoesNotModifyRequest(t *testing.T) {
	e := newRSEnv(t, nil)
	tok := sign(t, e.iss.key("es"), e.iss.claims(e.clk.Now(), e.resource), nil)
	req := httptest.NewRequest(http.MethodPost, e.resource, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	var inner *http.Request
	h := e.mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner = r }))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if inner == nil {
		t.Fatal("next handler not called")
	}
	if req.Header.Get("Authorization") == "" {
		t.Error("the caller's request lost its Authorization header")
	}
	if inner.Header.Get("Authorization") != "" {
		t.Error("the next handler saw the Authorization header")
	}
}

// TestWriteErrorForGateway is the call the gateway makes after reading a
// tools/call body: 403 with every needed scope in one challenge.
func TestWriteErrorForGateway(t *testing.T) {
	e := newRSEnv(t, nil)
	tests := []struct {
		name       string
		err        error
		status     int
		challenge  string
		body       string
		retryAfter string
	}{
		{
			name:      "insufficient scope",
			err:       &Error{Code: InsufficientScope, Description: "calling this tool needs more", Scopes: []string{"mcp:tools:write", "files:read"}},
			status:    403,
			challenge: `Bearer resource_metadata="` + e.mw.ResourceMetadataURL() + `", scope="mcp:tools:write files:read", error="insufficient_scope", error_description="calling this tool needs more"`,
			body:      `{"error":"insufficient_scope","error_description":"calling this tool needs more","scope":"mcp:tools:write files:read"}`,
		},
		{
			name:      "invalid request",
			err:       &Error{Code: InvalidRequest, Description: `bad "thing"`},
			status:    400,
			challenge: `Bearer resource_metadata="` + e.mw.ResourceMetadataURL() + `", error="invalid_request", error_description="bad thing"`,
			body:      `{"error":"invalid_request","error_description":"bad thing"}`,
		},
		{
			name:      "plain error is invalid_token without its text",
			err:       errors.New("secret detail"),
			status:    401,
			challenge: `Bearer resource_metadata="` + e.mw.ResourceMetadataURL() + `", error="invalid_token", error_description="the access token is invalid"`,
			body:      `{"error":"invalid_token","error_description":"the access token is invalid"}`,
		},
		{
			name:      "no token: no error information in the challenge",
			err:       &Error{Description: "a bearer access token is required"},
			status:    401,
			challenge: `Bearer resource_metadata="` + e.mw.ResourceMetadataURL() + `"`,
			body:      `{"error_description":"a bearer access token is required"}`,
		},
		{
			name:       "unavailable",
			err:        errors.Join(ErrUnavailable, errors.New("jwks down")),
			status:     503,
			body:       `{"error":"temporarily_unavailable","error_description":"token validation is temporarily unavailable"}`,
			retryAfter: "5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			e.mw.WriteError(w, httptest.NewRequest("POST", "/mcp", nil), tt.err)
			if w.Code != tt.status {
				t.Errorf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("challenge\n got %s\nwant %s", got, tt.challenge)
			}
			if got := w.Body.String(); got != tt.body {
				t.Errorf("body\n got %s\nwant %s", got, tt.body)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
		})
	}
}

func TestMiddlewareUnavailableIssuer(t *testing.T) {
	e := newRSEnv(t, nil)
	e.iss.mu.Lock()
	e.iss.failJWKS = true
	e.iss.mu.Unlock()
	tok := sign(t, e.iss.key("es"), e.iss.claims(e.clk.Now(), e.resource), nil)
	r := e.do(t, e.srv.URL+"/mcp", "Bearer "+tok)
	if r.status != http.StatusServiceUnavailable || r.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("status %d challenge %q, want 503 without challenge", r.status, r.header.Get("WWW-Authenticate"))
	}
	// Within the retry interval nothing is fetched again.
	before := e.iss.jwksCalls.Load()
	_ = e.do(t, e.srv.URL+"/mcp", "Bearer "+tok)
	if got := e.iss.jwksCalls.Load(); got != before {
		t.Errorf("JWKS fetched %d more times within the retry interval", got-before)
	}
	// The issuer comes back; after the retry interval the token passes.
	e.iss.mu.Lock()
	e.iss.failJWKS = false
	e.iss.mu.Unlock()
	e.clk.Add(failedRetryAt)
	if r := e.do(t, e.srv.URL+"/mcp", "Bearer "+tok); r.status != 200 {
		t.Fatalf("after recovery: status %d %s", r.status, r.body)
	}
	<-e.seen
}

func TestNewMiddlewareOptions(t *testing.T) {
	v := VerifierFunc(func(context.Context, string) (*Principal, error) { return nil, nil })
	tests := []struct {
		name string
		opts MiddlewareOptions
		ok   bool
	}{
		{"ok", MiddlewareOptions{Verifier: v, Resource: "https://mcp.example.com/mcp"}, true},
		{"ok loopback http", MiddlewareOptions{Verifier: v, Resource: "http://127.0.0.1:8080/mcp"}, true},
		{"no verifier", MiddlewareOptions{Resource: "https://mcp.example.com/mcp"}, false},
		{"no resource", MiddlewareOptions{Verifier: v}, false},
		{"fragment", MiddlewareOptions{Verifier: v, Resource: "https://mcp.example.com/mcp#x"}, false},
		{"http remote", MiddlewareOptions{Verifier: v, Resource: "http://mcp.example.com/mcp"}, false},
		{"http remote allowed", MiddlewareOptions{Verifier: v, Resource: "http://mcp.example.com/mcp", InsecureAllowHTTP: true}, true},
		{"offline_access challenged", MiddlewareOptions{Verifier: v, Resource: "https://mcp.example.com/mcp", Scopes: []string{"offline_access"}}, false},
		{"bad scope", MiddlewareOptions{Verifier: v, Resource: "https://mcp.example.com/mcp", Scopes: []string{`a"b`}}, false},
		{"relative metadata url", MiddlewareOptions{Verifier: v, Resource: "https://mcp.example.com/mcp", ResourceMetadataURL: "/x"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewMiddleware(tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// VerifierFunc adapts a function to Verifier in tests.
type VerifierFunc func(ctx context.Context, token string) (*Principal, error)

func (f VerifierFunc) Verify(ctx context.Context, token string) (*Principal, error) {
	return f(ctx, token)
}
