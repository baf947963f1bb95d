package resourceserver

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// clock is a settable clock for Now options.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_800_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// signingKey is one private key of a test issuer.
type signingKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

// testIssuer is a real HTTP authorization server stand-in on loopback: it
// serves RFC 8414 metadata and a JWKS, counts the fetches, and signs tokens
// with its keys.
type testIssuer struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string
	path   string // issuer path, "" or "/tenant"

	mu        sync.Mutex
	keys      map[string]signingKey // kid -> key, all published
	failJWKS  bool
	mdIssuer  string // issuer claimed in metadata; default issuer
	jwksCalls atomic.Int64
	mdCalls   atomic.Int64
}

func newTestIssuer(t *testing.T, path string) *testIssuer {
	t.Helper()
	ti := &testIssuer{t: t, path: path, keys: map[string]signingKey{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-authorization-server"+path, func(w http.ResponseWriter, r *http.Request) {
		ti.mdCalls.Add(1)
		ti.mu.Lock()
		iss := ti.mdIssuer
		ti.mu.Unlock()
		if iss == "" {
			iss = ti.issuer
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":                 iss,
			"jwks_uri":               ti.srv.URL + path + "/jwks",
			"introspection_endpoint": ti.srv.URL + path + "/introspect",
		})
	})
	mux.HandleFunc(path+"/jwks", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksCalls.Add(1)
		ti.mu.Lock()
		defer ti.mu.Unlock()
		if ti.failJWKS {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var set jose.JSONWebKeySet
		for _, k := range ti.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	})
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	ti.issuer = ti.srv.URL + path
	ti.addKey("es", "ES256")
	ti.addKey("rs", "RS256")
	ti.addKey("ed", "EdDSA")
	return ti
}

func newPrivateKey(t *testing.T, alg string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch alg {
	case "ES256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "RS256", "PS256":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "EdDSA":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("no key type for %s", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (ti *testIssuer) addKey(kid, alg string) signingKey {
	k := signingKey{kid: kid, alg: alg, priv: newPrivateKey(ti.t, alg)}
	ti.mu.Lock()
	ti.keys[kid] = k
	ti.mu.Unlock()
	return k
}

func (ti *testIssuer) key(kid string) signingKey {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	k, ok := ti.keys[kid]
	if !ok {
		ti.t.Fatalf("no key %q", kid)
	}
	return k
}

// claims returns a valid claim set for aud at now.
func (ti *testIssuer) claims(now time.Time, aud string) map[string]any {
	return map[string]any{
		"iss":       ti.issuer,
		"sub":       "user-1",
		"client_id": "client-1",
		"aud":       aud,
		"exp":       now.Add(5 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"jti":       "jti-1",
		"scope":     "mcp:tools mcp:resources:read",
	}
}

// sign signs claims with key k, typ at+jwt and extra header fields.
func sign(t *testing.T, k signingKey, claims map[string]any, header map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	opts.WithType("at+jwt")
	for name, v := range header {
		opts.WithHeader(jose.HeaderKey(name), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.alg),
		Key:       jose.JSONWebKey{Key: k.priv, KeyID: k.kid},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// unsigned builds a compact JWS from a raw header and claims with the given
// signature segment.
func unsigned(header, claims, sig string) string {
	return b64(header) + "." + b64(claims) + "." + sig
}

// hs256 signs header.claims with HMAC-SHA256 under secret: the
// key-confusion attack (RFC 8725 §2.1) when secret is a public key.
func hs256(header, claims string, secret []byte) string {
	in := b64(header) + "." + b64(claims)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// hasNoToken fails if s contains token (for checking logs and bodies).
func hasNoToken(t *testing.T, where, s, token string) {
	t.Helper()
	if token != "" && strings.Contains(s, token) {
		t.Errorf("%s contains the token", where)
	}
}
