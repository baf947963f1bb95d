// Package resourceservertest is a test and development harness for code
// protected by resourceserver, in the spirit of net/http/httptest: [Issuer]
// is a real HTTP server on loopback that publishes RFC 8414 authorization
// server metadata and a JWKS and signs RFC 9068 JWT access tokens on
// demand, so a resource server can be exercised end to end without an
// external identity provider.
//
// It is not an authorization server: no client endpoints, no login, keys
// live in memory and die with the process. Never use it in production.
//
// It imports the standard library and go-jose (for signing); it must not
// import authserver.
package resourceservertest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// IssuerOptions configures an [Issuer].
type IssuerOptions struct {
	// Now is the clock used for iat and exp. If nil, time.Now.
	Now func() time.Time
}

// Issuer is a loopback token issuer.
type Issuer struct {
	// URL is the issuer identifier ("iss") and the base of its metadata.
	URL string

	srv         *httptest.Server
	now         func() time.Time
	mu          sync.Mutex
	keys        map[string]crypto.Signer // alg -> key; kid is the alg
	jwksFetches atomic.Int64
	seq         atomic.Int64
}

// NewIssuer starts an issuer on 127.0.0.1. Call Close when done.
func NewIssuer(opts IssuerOptions) (*Issuer, error) {
	i := &Issuer{now: opts.Now, keys: map[string]crypto.Signer{}}
	if i.now == nil {
		i.now = time.Now
	}
	// All keys are published from the start, as a real issuer publishes
	// a key before signing with it.
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("resourceservertest: %w", err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("resourceservertest: %w", err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("resourceservertest: %w", err)
	}
	i.keys["ES256"], i.keys["RS256"], i.keys["EdDSA"] = ec, rk, ed
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", i.metadata)
	mux.HandleFunc("GET /.well-known/openid-configuration", i.metadata)
	mux.HandleFunc("GET /jwks", i.jwks)
	i.srv = httptest.NewServer(mux)
	i.URL = i.srv.URL
	return i, nil
}

// Close shuts the issuer down.
func (i *Issuer) Close() { i.srv.Close() }

// JWKSFetches returns how many times the JWKS has been fetched.
func (i *Issuer) JWKSFetches() int64 { return i.jwksFetches.Load() }

func (i *Issuer) metadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                i.URL,
		"jwks_uri":                              i.URL + "/jwks",
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"none"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	i.jwksFetches.Add(1)
	i.mu.Lock()
	var set jose.JSONWebKeySet
	for alg, k := range i.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Public(), KeyID: alg, Algorithm: alg, Use: "sig"})
	}
	i.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(set)
}

func (i *Issuer) key(alg string) (crypto.Signer, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if k, ok := i.keys[alg]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("resourceservertest: unsupported algorithm %q", alg)
}

// Token describes an access token to sign.
type Token struct {
	// Subject is "sub". If empty, "user".
	Subject string
	// ClientID is "client_id". If empty, "client".
	ClientID string
	// Audience is "aud": the canonical URIs of the resources. Required.
	Audience []string
	// Scopes become the space-separated "scope" claim.
	Scopes []string
	// Lifetime sets "exp" after now. If zero, 1 hour; negative makes an
	// expired token.
	Lifetime time.Duration
	// Algorithm is ES256 (the default), RS256 or EdDSA.
	Algorithm string
	// Claims are added to the claim set ("groups", "roles", ...); they
	// cannot replace the claims above.
	Claims map[string]any
}

// Sign returns a signed RFC 9068 access token (typ at+jwt) for t.
func (i *Issuer) Sign(t Token) (string, error) {
	if len(t.Audience) == 0 {
		return "", errors.New("resourceservertest: Token.Audience is required")
	}
	alg := t.Algorithm
	if alg == "" {
		alg = "ES256"
	}
	k, err := i.key(alg)
	if err != nil {
		return "", err
	}
	sub, client := t.Subject, t.ClientID
	if sub == "" {
		sub = "user"
	}
	if client == "" {
		client = "client"
	}
	life := t.Lifetime
	if life == 0 {
		life = time.Hour
	}
	now := i.now()
	claims := map[string]any{
		"iss":       i.URL,
		"sub":       sub,
		"client_id": client,
		"aud":       t.Audience,
		"iat":       now.Unix(),
		"exp":       now.Add(life).Unix(),
		"jti":       fmt.Sprintf("tok-%d", i.seq.Add(1)),
	}
	if len(t.Scopes) > 0 {
		claims["scope"] = strings.Join(t.Scopes, " ")
	}
	for k, v := range t.Claims {
		if _, set := claims[k]; !set {
			claims[k] = v
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: k, KeyID: alg}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return "", fmt.Errorf("resourceservertest: %w", err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("resourceservertest: %w", err)
	}
	return jws.CompactSerialize()
}
