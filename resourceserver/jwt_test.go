package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestJWTVerifier(t *testing.T, ti *testIssuer, clk *clock, aud string, mod func(*JWTOptions)) *JWTVerifier {
	t.Helper()
	opts := JWTOptions{Issuer: ti.issuer, Audiences: []string{aud}, Now: clk.Now}
	if mod != nil {
		mod(&opts)
	}
	v, err := NewJWTVerifier(opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const testAud = "https://mcp.example.com/mcp"

// TestUnknownKidFlood: tokens naming made-up kids make the verifier refetch
// the JWKS at most once per KeysMinRefresh, however many arrive and however
// concurrently; fetches are counted at the real JWKS server.
func TestUnknownKidFlood(t *testing.T) {
	ti := newTestIssuer(t, "")
	clk := newClock()
	v := newTestJWTVerifier(t, ti, clk, testAud, func(o *JWTOptions) { o.KeysMinRefresh = time.Minute })
	ctx := context.Background()

	// Warm up: one good token loads the keys (metadata + JWKS).
	if _, err := v.Verify(ctx, sign(t, ti.key("es"), ti.claims(clk.Now(), testAud), nil)); err != nil {
		t.Fatal(err)
	}
	if got := ti.jwksCalls.Load(); got != 1 {
		t.Fatalf("warm-up JWKS fetches = %d, want 1", got)
	}

	// The flood comes after the interval since the warm-up fetch, so it is
	// allowed exactly one refetch.
	clk.Add(time.Minute)
	attacker := newPrivateKey(t, "ES256")
	const n = 500
	tokens := make([]string, n)
	for i := range tokens {
		tokens[i] = sign(t, signingKey{kid: fmt.Sprintf("kid-%d", i), alg: "ES256", priv: attacker}, ti.claims(clk.Now(), testAud), nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := v.Verify(ctx, tok)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("flood token: err = %v, want invalid_token", err)
		}
	}
	if got := ti.jwksCalls.Load(); got != 2 {
		t.Errorf("JWKS fetches after %d unknown kids = %d, want 2 (warm-up + one refetch)", n, got)
	}
	if got := ti.mdCalls.Load(); got != 1 {
		t.Errorf("metadata fetches = %d, want 1", got)
	}

	// Still inside the interval: no more fetches.
	clk.Add(30 * time.Second)
	for _, tok := range tokens[:50] {
		_, _ = v.Verify(ctx, tok)
	}
	if got := ti.jwksCalls.Load(); got != 2 {
		t.Errorf("JWKS fetches inside the interval = %d, want 2", got)
	}

	// Key rotation: the issuer publishes a new key; once the interval has
	// passed, the first token with its kid triggers one refetch and passes.
	newKey := ti.addKey("es-2", "ES256")
	clk.Add(31 * time.Second)
	rotated := sign(t, newKey, ti.claims(clk.Now(), testAud), nil)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("token with the rotated key: %v", err)
	}
	if got := ti.jwksCalls.Load(); got != 3 {
		t.Errorf("JWKS fetches after rotation = %d, want 3", got)
	}
	// Good tokens with known kids never fetch.
	for range 20 {
		if _, err := v.Verify(ctx, rotated); err != nil {
			t.Fatal(err)
		}
	}
	if got := ti.jwksCalls.Load(); got != 3 {
		t.Errorf("JWKS fetches for known kids = %d, want 3", got)
	}
}

// TestKeysMaxAge: keys older than KeysMaxAge are refetched by one request,
// and kept when the refetch fails.
func TestKeysMaxAge(t *testing.T) {
	ti := newTestIssuer(t, "")
	clk := newClock()
	v := newTestJWTVerifier(t, ti, clk, testAud, func(o *JWTOptions) { o.KeysMaxAge = time.Hour })
	ctx := context.Background()
	good := func() string { return sign(t, ti.key("es"), ti.claims(clk.Now(), testAud), nil) }
	if _, err := v.Verify(ctx, good()); err != nil {
		t.Fatal(err)
	}
	clk.Add(time.Hour + time.Second)
	if _, err := v.Verify(ctx, good()); err != nil {
		t.Fatal(err)
	}
	if got := ti.jwksCalls.Load(); got != 2 {
		t.Errorf("JWKS fetches = %d, want 2", got)
	}
	ti.mu.Lock()
	ti.failJWKS = true
	ti.mu.Unlock()
	clk.Add(time.Hour + time.Second)
	if _, err := v.Verify(ctx, good()); err != nil {
		t.Fatalf("stale keys must stay in use when the refetch fails: %v", err)
	}
}

// TestDiscovery: the metadata URL order and the exact issuer match.
func TestDiscovery(t *testing.T) {
	t.Run("issuer with path", func(t *testing.T) {
		ti := newTestIssuer(t, "/tenant1")
		clk := newClock()
		v := newTestJWTVerifier(t, ti, clk, testAud, nil)
		if _, err := v.Verify(context.Background(), sign(t, ti.key("rs"), ti.claims(clk.Now(), testAud), nil)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("metadata names another issuer", func(t *testing.T) {
		ti := newTestIssuer(t, "")
		ti.mdIssuer = "https://evil.example"
		clk := newClock()
		v := newTestJWTVerifier(t, ti, clk, testAud, nil)
		_, err := v.Verify(context.Background(), sign(t, ti.key("es"), ti.claims(clk.Now(), testAud), nil))
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if ti.jwksCalls.Load() != 0 {
			t.Error("fetched the JWKS named by metadata with the wrong issuer")
		}
	})
	t.Run("openid configuration appended", func(t *testing.T) {
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		defer srv.Close()
		var hits []string
		var mu sync.Mutex
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits = append(hits, r.URL.Path)
			mu.Unlock()
			if r.URL.Path == "/t1/.well-known/openid-configuration" {
				_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL + "/t1", "jwks_uri": srv.URL + "/keys"})
				return
			}
			http.NotFound(w, r)
		})
		md, err := discover(context.Background(), srv.Client(), srv.URL+"/t1")
		if err != nil {
			t.Fatal(err)
		}
		if md.jwksURI != srv.URL+"/keys" {
			t.Errorf("jwks_uri %q", md.jwksURI)
		}
		want := []string{"/.well-known/oauth-authorization-server/t1", "/.well-known/openid-configuration/t1", "/t1/.well-known/openid-configuration"}
		if strings.Join(hits, " ") != strings.Join(want, " ") {
			t.Errorf("probe order %q, want %q", hits, want)
		}
	})
}

func TestNewJWTVerifierOptions(t *testing.T) {
	tests := []struct {
		name string
		opts JWTOptions
		ok   bool
	}{
		{"ok", JWTOptions{Issuer: "https://as.example", Audiences: []string{testAud}}, true},
		{"no issuer", JWTOptions{Audiences: []string{testAud}}, false},
		{"no audience", JWTOptions{Issuer: "https://as.example"}, false},
		{"http issuer", JWTOptions{Issuer: "http://as.example", Audiences: []string{testAud}}, false},
		{"loopback http issuer", JWTOptions{Issuer: "http://localhost:9000", Audiences: []string{testAud}}, true},
		{"alg none", JWTOptions{Issuer: "https://as.example", Audiences: []string{testAud}, Algorithms: []string{"none"}}, false},
		{"alg HS256", JWTOptions{Issuer: "https://as.example", Audiences: []string{testAud}, Algorithms: []string{"ES256", "HS256"}}, false},
		{"empty algs", JWTOptions{Issuer: "https://as.example", Audiences: []string{testAud}, Algorithms: []string{}}, false},
		{"leeway too large", JWTOptions{Issuer: "https://as.example", Audiences: []string{testAud}, Leeway: time.Hour}, false},
		{"issuer with query", JWTOptions{Issuer: "https://as.example?x=1", Audiences: []string{testAud}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewJWTVerifier(tt.opts)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestAlgorithmAllowList: a verifier limited to ES256 refuses RS256 tokens
// even with a good signature; typ can be relaxed for issuers that send JWT.
func TestAlgorithmAllowList(t *testing.T) {
	ti := newTestIssuer(t, "")
	clk := newClock()
	ctx := context.Background()
	v := newTestJWTVerifier(t, ti, clk, testAud, func(o *JWTOptions) { o.Algorithms = []string{"ES256"} })
	if _, err := v.Verify(ctx, sign(t, ti.key("rs"), ti.claims(clk.Now(), testAud), nil)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("RS256 token with ES256-only verifier: err = %v", err)
	}
	v2 := newTestJWTVerifier(t, ti, clk, testAud, func(o *JWTOptions) { o.Types = []string{"at+jwt", "JWT"} })
	if _, err := v2.Verify(ctx, sign(t, ti.key("es"), ti.claims(clk.Now(), testAud), map[string]any{"typ": "JWT"})); err != nil {
		t.Errorf("typ JWT allowed: %v", err)
	}
}

// TestParseJWT pins the header and claims decoding.
func TestParseJWT(t *testing.T) {
	hdr := `{"alg":"ES256","typ":"at+jwt","kid":"k"}`
	tests := []struct {
		name    string
		token   string
		wantErr string // substring; "" = ok
		notJWT  bool
	}{
		{"ok", unsigned(hdr, `{"iss":"i","aud":["a","b"],"exp":1.5,"scope":"x y"}`, "c2ln"), "", false},
		{"two segments", "a.b", "", true},
		{"four segments", "a.b.c.d", "", true},
		{"header not base64", "!!.e30.c2ln", "", true},
		{"header not json", b64("hello") + ".e30.c2ln", "", true},
		{"header padded", b64(hdr) + "=.e30.c2ln", "", true},
		{"no signature", unsigned(hdr, `{}`, ""), "unsigned", false},
		{"no alg", unsigned(`{"typ":"at+jwt"}`, `{}`, "c2ln"), `no "alg"`, false},
		{"alg not string", unsigned(`{"alg":1}`, `{}`, "c2ln"), `"alg" is not a string`, false},
		{"alg empty", unsigned(`{"alg":""}`, `{}`, "c2ln"), `no "alg"`, false},
		{"duplicate alg", unsigned(`{"alg":"ES256","alg":"none"}`, `{}`, "c2ln"), "duplicate", false},
		{"escaped duplicate alg", unsigned(`{"alg":"ES256","\u0061lg":"none"}`, `{}`, "c2ln"), "duplicate", false},
		{"crit", unsigned(`{"alg":"ES256","crit":["b64"],"b64":false}`, `{}`, "c2ln"), "crit", false},
		{"claims not object", unsigned(hdr, `[1]`, "c2ln"), "not a valid JSON object", false},
		{"claims invalid utf8", unsigned(hdr, "{\"sub\":\"\xff\"}", "c2ln"), "not a valid JSON object", false},
		{"duplicate iss", unsigned(hdr, `{"iss":"a","iss":"b"}`, "c2ln"), "duplicate", false},
		{"aud number", unsigned(hdr, `{"aud":1}`, "c2ln"), `"aud"`, false},
		{"aud array of numbers", unsigned(hdr, `{"aud":[1]}`, "c2ln"), `"aud"`, false},
		{"exp string", unsigned(hdr, `{"exp":"1"}`, "c2ln"), `"exp"`, false},
		{"exp negative", unsigned(hdr, `{"exp":-1}`, "c2ln"), `"exp"`, false},
		{"exp huge", unsigned(hdr, `{"exp":1e300}`, "c2ln"), `"exp"`, false},
		{"deep claims", unsigned(hdr, `{"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`, "c2ln"), "not a valid JSON object", false},
		{"too large", unsigned(hdr, `{"x":"`+strings.Repeat("a", DefaultMaxTokenBytes)+`"}`, "c2ln"), "too large", false},
		// One spelling per token (RFC 7515 section 2): go-jose would skip
		// the line breaks and ignore the trailing bits.
		{"line break in signature", unsigned(hdr, `{}`, "c2\r\nln"), "not canonical", false},
		{"line feed in claims", b64(hdr) + ".e3\n0.c2ln", "not canonical", false},
		{"signature trailing bits", unsigned(hdr, `{}`, "c2l"), "not canonical", false},
		{"signature padded", unsigned(hdr, `{}`, "c2k="), "not canonical", false},
		{"uppercase ISS is not iss", unsigned(hdr, `{"ISS":"i"}`, "c2ln"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseJWT(tt.token, 0)
			if tt.notJWT {
				if !errors.Is(err, errNotJWT) {
					t.Fatalf("err = %v, want errNotJWT", err)
				}
				return
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if tt.name == "uppercase ISS is not iss" && p.claims.iss != "" {
					t.Errorf("ISS read as iss")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzParseJWT: the header/claims parsing path never panics, and what it
// accepts is self-consistent.
func FuzzParseJWT(f *testing.F) {
	f.Add(unsigned(`{"alg":"ES256","typ":"at+jwt","kid":"k"}`, `{"iss":"i","sub":"s","aud":["a"],"exp":1,"nbf":0,"iat":1,"scope":"a b","scp":["c"],"client_id":"c","jti":"j"}`, "sig"))
	f.Add(unsigned(`{"alg":"none"}`, `{}`, ""))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := parseJWT(token, 0)
		if err != nil {
			return
		}
		if p.header.alg == "" {
			t.Errorf("accepted a header without alg: %q", token)
		}
		for _, s := range p.claims.scopes {
			if !validScopeToken(s) {
				t.Errorf("accepted invalid scope %q", s)
			}
		}
		if !p.claims.exp.IsZero() && (p.claims.exp.Unix() < 0 || p.claims.exp.Unix() > maxNumericDate) {
			t.Errorf("exp out of range: %v", p.claims.exp)
		}
	})
}

// FuzzParseKeyDocuments: JWKS and authorization server metadata come from
// a trusted issuer, but over the network; their parsers never panic.
func FuzzParseKeyDocuments(f *testing.F) {
	f.Add(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k"}]}`)
	f.Add(`{"issuer":"https://as","jwks_uri":"https://as/jwks","introspection_endpoint":"https://as/i"}`)
	f.Add(`{"keys":[{"kty":"oct","k":"AAAA"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		keys, err := parseJWKS([]byte(doc), slog.New(slog.DiscardHandler))
		if err == nil {
			for _, k := range keys {
				if k.key == nil {
					t.Fatal("nil key accepted")
				}
			}
		}
		_, _ = parseASMetadata([]byte(doc))
	})
}

// TestVerifyOneSpelling: a signed token spelled another way (a line break
// inside a segment, a signature's unused trailing bits set) is refused,
// though go-jose alone would verify it as the same token (RFC 7515
// section 2, RFC 4648 section 3.3).
func TestVerifyOneSpelling(t *testing.T) {
	ti := newTestIssuer(t, "")
	clk := newClock()
	v := newTestJWTVerifier(t, ti, clk, testAud, nil)
	ctx := context.Background()
	tok := sign(t, ti.key("es"), ti.claims(clk.Now(), testAud), nil)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	dot := strings.LastIndexByte(tok, '.')
	variants := map[string]string{
		"CRLF in header":    tok[:5] + "\r\n" + tok[5:],
		"LF in claims":      tok[:dot-5] + "\n" + tok[dot-5:],
		"CR in signature":   tok[:dot+3] + "\r" + tok[dot+3:],
		"trailing line end": tok + "\r\n",
	}
	// An ES256 signature is 64 bytes: 86 characters, whose last one
	// carries 4 unused bits.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	variants["signature trailing bits"] = tok[:len(tok)-1] + string(alphabet[last|1])
	for name, bad := range variants {
		if _, err := v.Verify(ctx, bad); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}
