// Package resourceserverbench measures what token validation costs per
// request: from the cache, cold JWT verification (ES256, RS256, EdDSA)
// beside go-jose called directly, and RFC 7662 introspection over loopback.
// See README.md for results and the command.
package resourceserverbench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpfort/mcpfort/resourceserver"
)

const resource = "https://mcp.example.com/mcp"

type key struct {
	alg  string
	priv crypto.Signer
}

// issuer is a loopback metadata + JWKS server for the benchmarks.
type issuer struct {
	srv  *httptest.Server
	url  string
	keys map[string]key
}

func newIssuer(b *testing.B) *issuer {
	b.Helper()
	is := &issuer{keys: map[string]key{}}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	is.keys["ES256"] = key{"ES256", ec}
	is.keys["RS256"] = key{"RS256", rk}
	is.keys["EdDSA"] = key{"EdDSA", ed}
	mux := http.NewServeMux()
	is.srv = httptest.NewServer(mux)
	b.Cleanup(is.srv.Close)
	is.url = is.srv.URL
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.url, "jwks_uri": is.url + "/jwks"})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		var set jose.JSONWebKeySet
		for alg, k := range is.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: alg, Algorithm: alg, Use: "sig"})
		}
		_ = json.NewEncoder(w).Encode(set)
	})
	return is
}

// token returns a realistic RFC 9068 access token signed with alg.
func (is *issuer) token(b *testing.B, alg string) string {
	b.Helper()
	k := is.keys[alg]
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: k.priv, KeyID: alg}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"iss": is.url, "sub": "248289761001", "client_id": "https://client.example.com/metadata.json",
		"aud": resource, "exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "jti": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
		"scope": "mcp:tools mcp:resources:read",
	})
	jws, err := s.Sign(claims)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

func newJWTVerifier(b *testing.B, is *issuer) *resourceserver.JWTVerifier {
	b.Helper()
	v, err := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{Issuer: is.url, Audiences: []string{resource}})
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkCachedVerify is the per-request cost once a token has been
// validated: SHA-256 of the token, a map lookup, expiry check.
func BenchmarkCachedVerify(b *testing.B) {
	is := newIssuer(b)
	c, err := resourceserver.NewCache(newJWTVerifier(b, is), resourceserver.CacheOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tok := is.token(b, "ES256")
	ctx := context.Background()
	if _, err := c.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(tok)))
	for b.Loop() {
		if _, err := c.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCachedVerifyParallel is the same under contention on both cores.
func BenchmarkCachedVerifyParallel(b *testing.B) {
	is := newIssuer(b)
	c, err := resourceserver.NewCache(newJWTVerifier(b, is), resourceserver.CacheOptions{})
	if err != nil {
		b.Fatal(err)
	}
	tok := is.token(b, "ES256")
	ctx := context.Background()
	if _, err := c.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkMiddlewareCached is the whole middleware on a cached token:
// header parsing, cache, audience and scope checks, context, and the copy
// of the header without Authorization.
func BenchmarkMiddlewareCached(b *testing.B) {
	is := newIssuer(b)
	c, err := resourceserver.NewCache(newJWTVerifier(b, is), resourceserver.CacheOptions{})
	if err != nil {
		b.Fatal(err)
	}
	mw, err := resourceserver.NewMiddleware(resourceserver.MiddlewareOptions{Verifier: c, Resource: resource, Scopes: []string{"mcp:tools"}})
	if err != nil {
		b.Fatal(err)
	}
	var ok bool
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok = resourceserver.PrincipalFromContext(r.Context()) != nil
	}))
	req := httptest.NewRequest(http.MethodPost, resource, nil)
	req.Header.Set("Authorization", "Bearer "+is.token(b, "ES256"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", "abc")
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, req)
	if !ok {
		b.Fatal("not authorized")
	}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
}

// BenchmarkColdJWT verifies a token every time (no cache), through this
// package and through go-jose directly, in the same run: the difference is
// the cost of this layer (strict JSON parsing, typ/iss/aud/time checks,
// key selection) on top of the signature check.
func BenchmarkColdJWT(b *testing.B) {
	is := newIssuer(b)
	v := newJWTVerifier(b, is)
	ctx := context.Background()
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		tok := is.token(b, alg)
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%s/mcpfort", alg), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("%s/go-jose", alg), func(b *testing.B) {
			pub := is.keys[alg].priv.Public()
			algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
			b.ReportAllocs()
			for b.Loop() {
				t, err := jwt.ParseSigned(tok, algs)
				if err != nil {
					b.Fatal(err)
				}
				var c jwt.Claims
				var extra struct {
					Scope    string `json:"scope"`
					ClientID string `json:"client_id"`
				}
				if err := t.Claims(pub, &c, &extra); err != nil {
					b.Fatal(err)
				}
				if err := c.ValidateWithLeeway(jwt.Expected{Issuer: is.url, AnyAudience: jwt.Audience{resource}, Time: time.Now()}, 30*time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIntrospection is one RFC 7662 call over loopback HTTP per
// verification (no cache), against a minimal endpoint.
func BenchmarkIntrospection(b *testing.B) {
	exp := time.Now().Add(time.Hour).Unix()
	resp := fmt.Appendf(nil, `{"active":true,"iss":"https://as.example","sub":"u1","client_id":"c1","aud":%q,"scope":"mcp:tools","exp":%d,"token_type":"Bearer"}`, resource, exp)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); !ok || r.ParseForm() != nil || r.PostForm.Get("token") == "" {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(resp)
	}))
	b.Cleanup(srv.Close)
	v, err := resourceserver.NewIntrospectionVerifier(resourceserver.IntrospectionOptions{
		Issuer: "https://as.example", Endpoint: srv.URL, ClientID: "rs", ClientSecret: "secret",
		Audiences: []string{resource}, HTTPClient: srv.Client(),
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, "2YotnFZFEjr1zCsicMWpAA"); err != nil {
			b.Fatal(err)
		}
	}
}
