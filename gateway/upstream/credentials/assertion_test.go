package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/resourceserver"
)

// TestAssertionVerifies checks an assertion the way an upstream would:
// with the resource-server JWT verifier, discovering the gateway's JWKS.
func TestAssertionVerifies(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var a *Assertion
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	defer ts.Close()
	issuer := ts.URL + "/assertions"
	mux.HandleFunc("/.well-known/oauth-authorization-server/assertions", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/jwks.json"})
	})
	mux.HandleFunc("/assertions/jwks.json", func(w http.ResponseWriter, r *http.Request) { w.Write(a.JWKS()) })
	var err error
	a, err = NewAssertion(AssertionOptions{Issuer: issuer, Audience: "https://upstream.example.com/mcp", Key: key, LocalIssuer: "https://as"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := a.Token(context.Background(), Principal{Issuer: "https://as", Subject: "alice", ClientID: "c1", Scopes: []string{"mcp:tools"}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{Issuer: issuer, Audiences: []string{"https://upstream.example.com/mcp"}, InsecureAllowHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("upstream refused the assertion: %v", err)
	}
	if p.Subject != "alice" || p.ClientID != "c1" || !p.HasScope("mcp:tools") || time.Until(p.Expiry) > time.Minute {
		t.Fatalf("principal = %+v", p)
	}
	// Cached per principal; another principal gets another token.
	tok2, _ := a.Token(context.Background(), Principal{Issuer: "https://as", Subject: "alice", ClientID: "c1", Scopes: []string{"mcp:tools"}})
	tok3, _ := a.Token(context.Background(), Principal{Issuer: "https://as", Subject: "bob", ClientID: "c1"})
	if tok2 != tok || tok3 == tok {
		t.Fatal("assertion cache keyed wrongly")
	}
	// The same subject from another issuer is another user upstream; the
	// NUL-joined cache key of old let a subject containing NUL alias
	// another principal.
	tok4, _ := a.Token(context.Background(), Principal{Issuer: "https://external.example", Subject: "alice", ClientID: "c1", Scopes: []string{"mcp:tools"}})
	p4, err := v.Verify(context.Background(), tok4)
	if err != nil || p4.Subject != "https://external.example#alice" {
		t.Fatalf("external principal asserted as %+v (%v)", p4, err)
	}
	x1, _ := a.Token(context.Background(), Principal{Issuer: "https://as", Subject: "x\x00y", ClientID: "z"})
	x2, _ := a.Token(context.Background(), Principal{Issuer: "https://as", Subject: "x", ClientID: "y\x00z"})
	if x1 == x2 {
		t.Fatal("two principals share a cached assertion")
	}
	// Another audience is refused.
	v2, _ := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{Issuer: issuer, Audiences: []string{"https://other.example.com/mcp"}, InsecureAllowHTTP: true})
	if _, err := v2.Verify(context.Background(), tok); err == nil {
		t.Fatal("assertion accepted by another upstream")
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "assertion.key")
	k1, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(p)
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("reloaded key differs: %v", err)
	}
}
