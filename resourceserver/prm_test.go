package resourceserver

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetadataHandler(t *testing.T) {
	h, err := NewMetadataHandler(MetadataOptions{
		Resource:             "HTTPS://MCP.example.com/mcp",
		AuthorizationServers: []string{"https://auth.example.com"},
		ScopesSupported:      []string{"mcp:tools"},
		ResourceName:         "Example",
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}, h.Paths()); diff != "" {
		t.Errorf("Paths (-want +got):\n%s", diff)
	}
	if h.URL() != "https://mcp.example.com/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("URL %q", h.URL())
	}
	mux := http.NewServeMux()
	for _, p := range h.Paths() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	const wantBody = `{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"],"scopes_supported":["mcp:tools"],"bearer_methods_supported":["header"],"resource_name":"Example"}`
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/.well-known/oauth-protected-resource/mcp", 200, wantBody},
		{"GET", "/.well-known/oauth-protected-resource", 200, wantBody},
		{"HEAD", "/.well-known/oauth-protected-resource/mcp", 200, ""},
		{"OPTIONS", "/.well-known/oauth-protected-resource/mcp", 204, ""},
		{"POST", "/.well-known/oauth-protected-resource/mcp", 405, `{"error":"method_not_allowed"}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			req.Header.Set("Origin", "https://inspector.example")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(b) != tt.body {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, b, tt.status, tt.body)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Error("no CORS header")
			}
			if tt.status == 200 && resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestMetadataHandlerRoot(t *testing.T) {
	h, err := NewMetadataHandler(MetadataOptions{Resource: "https://mcp.example.com/", AuthorizationServers: []string{"https://a"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/.well-known/oauth-protected-resource"}, h.Paths()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if h.Document().Resource != "https://mcp.example.com" {
		t.Errorf("resource %q", h.Document().Resource)
	}
}

func TestNewMetadataHandlerOptions(t *testing.T) {
	tests := []struct {
		name string
		opts MetadataOptions
	}{
		{"no resource", MetadataOptions{AuthorizationServers: []string{"https://a"}}},
		{"no authorization server", MetadataOptions{Resource: "https://mcp.example.com"}},
		{"offline_access", MetadataOptions{Resource: "https://mcp.example.com", AuthorizationServers: []string{"https://a"}, ScopesSupported: []string{"offline_access"}}},
		{"bad scope", MetadataOptions{Resource: "https://mcp.example.com", AuthorizationServers: []string{"https://a"}, ScopesSupported: []string{"a b"}}},
		{"authorization server with fragment", MetadataOptions{Resource: "https://mcp.example.com", AuthorizationServers: []string{"https://a#x"}}},
		{"resource with fragment", MetadataOptions{Resource: "https://mcp.example.com#x", AuthorizationServers: []string{"https://a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewMetadataHandler(tt.opts); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestMulti: several issuers at once, routed by "iss"; opaque tokens to
// the opaque verifier; tokens of unknown issuers stop at the router.
func TestMulti(t *testing.T) {
	a, b := newTestIssuer(t, "/a"), newTestIssuer(t, "/b")
	clk := newClock()
	va := newTestJWTVerifier(t, a, clk, testAud, nil)
	vb := newTestJWTVerifier(t, b, clk, testAud, nil)
	var opaqueCalls int
	opaque := VerifierFunc(func(_ context.Context, tok string) (*Principal, error) {
		opaqueCalls++
		if tok == "opaque-good" {
			return &Principal{Issuer: "https://op", Subject: "o", Audience: []string{testAud}}, nil
		}
		return nil, invalidToken("inactive", nil)
	})
	m, err := NewMulti(MultiOptions{Issuers: []IssuerVerifier{va, vb}, Opaque: opaque})
	if err != nil {
		t.Fatal(err)
	}
	stranger := newTestIssuer(t, "/c")
	tests := []struct {
		name    string
		token   string
		issuer  string
		wantErr error
	}{
		{"issuer a", sign(t, a.key("es"), a.claims(clk.Now(), testAud), nil), a.issuer, nil},
		{"issuer b", sign(t, b.key("rs"), b.claims(clk.Now(), testAud), nil), b.issuer, nil},
		{"a's claims signed by b", sign(t, b.key("es"), a.claims(clk.Now(), testAud), nil), "", ErrInvalidToken},
		{"unknown issuer", sign(t, stranger.key("es"), stranger.claims(clk.Now(), testAud), nil), "", ErrInvalidToken},
		{"opaque", "opaque-good", "https://op", nil},
		{"opaque inactive", "opaque-bad", "", ErrInvalidToken},
		{"malformed jwt", b64(`{"alg":"ES256"}`) + ".!!.x", "", ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := m.Verify(context.Background(), tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Issuer != tt.issuer {
				t.Errorf("issuer %q, want %q", p.Issuer, tt.issuer)
			}
		})
	}
	if opaqueCalls != 2 {
		t.Errorf("opaque verifier called %d times, want 2 (JWTs must never reach it)", opaqueCalls)
	}
	if stranger.jwksCalls.Load() != 0 || stranger.mdCalls.Load() != 0 {
		t.Error("an untrusted issuer was contacted")
	}
	if _, err := NewMulti(MultiOptions{Issuers: []IssuerVerifier{va, va}}); err == nil {
		t.Error("duplicate issuers accepted")
	}
}
