package credentials

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Principal is who an assertion speaks for.
type Principal struct {
	Issuer, Subject, ClientID string
	Scopes                    []string
}

// AssertionOptions configures an Assertion. Issuer, Audience and Key are
// required.
type AssertionOptions struct {
	// Issuer is the "iss" of assertions: the gateway's issuer URL, whose
	// JWKS the upstream trusts.
	Issuer string
	// Audience is the upstream's resource identifier ("aud").
	Audience string
	// Key signs assertions (ES256 with a P-256 key).
	Key *ecdsa.PrivateKey
	// Lifetime of an assertion. If zero, 60s.
	Lifetime time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
	// LocalIssuer is the issuer whose subjects are the gateway's own
	// users (the embedded authorization server). Their "sub" is asserted
	// as it is; the subject of any other issuer as "<issuer>#<subject>"
	// (an issuer identifier has no fragment, RFC 8414 section 2), so the
	// same "sub" from two issuers never reaches the upstream as one user:
	// RFC 7519 section 4.1.2 wants "sub" unique in the context of the
	// assertion's issuer, which is the gateway. The subject as its issuer
	// wrote it is in "mcpfort_principal_sub", the issuer in
	// "mcpfort_principal_iss".
	LocalIssuer string
}

// Assertion signs short-lived RFC 9068-shaped access tokens asserting the
// principal to an upstream: "iss" the gateway, "aud" the upstream, "sub"
// and "client_id" the principal's, "act" naming the original issuer, which
// an upstream's resource-server middleware verifies like any access token
// from the gateway's JWKS. It caches one assertion per principal until
// half its lifetime has passed.
type Assertion struct {
	o      AssertionOptions
	signer jose.Signer
	kid    string
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	token   string
	renewAt time.Time
}

// NewAssertion returns an Assertion for o.
func NewAssertion(o AssertionOptions) (*Assertion, error) {
	if o.Issuer == "" || o.Audience == "" || o.Key == nil {
		return nil, errors.New("credentials: assertion needs an issuer, an audience and a key")
	}
	if o.Key.Curve != elliptic.P256() {
		return nil, errors.New("credentials: assertion key must be P-256")
	}
	if o.Lifetime <= 0 {
		o.Lifetime = time.Minute
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	kid := keyID(&o.Key.PublicKey)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: o.Key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, err
	}
	return &Assertion{o: o, signer: signer, kid: kid, now: now, cache: map[string]cached{}}, nil
}

func keyID(pub *ecdsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

// Token returns an assertion for p.
func (a *Assertion) Token(_ context.Context, p Principal) (string, error) {
	// Quoted fields: a NUL or a space inside one cannot make two
	// principals share a cache entry.
	key := strconv.Quote(p.Issuer) + strconv.Quote(p.Subject) + strconv.Quote(p.ClientID) + strconv.Quote(strings.Join(p.Scopes, " "))
	now := a.now()
	a.mu.Lock()
	if c, ok := a.cache[key]; ok && now.Before(c.renewAt) {
		a.mu.Unlock()
		return c.token, nil
	}
	a.mu.Unlock()
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	claims := map[string]any{
		"iss": a.o.Issuer, "aud": a.o.Audience, "sub": a.subject(p), "client_id": p.ClientID,
		"iat": now.Unix(), "exp": now.Add(a.o.Lifetime).Unix(), "jti": hex.EncodeToString(jti),
		"act": map[string]any{"sub": a.o.Issuer},
	}
	if p.Issuer != "" {
		claims["mcpfort_principal_iss"] = p.Issuer
		claims["mcpfort_principal_sub"] = p.Subject
	}
	if len(p.Scopes) > 0 {
		claims["scope"] = strings.Join(p.Scopes, " ")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := a.signer.Sign(payload)
	if err != nil {
		return "", err
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", err
	}
	a.mu.Lock()
	if len(a.cache) > 10000 {
		a.cache = map[string]cached{}
	}
	a.cache[key] = cached{token: tok, renewAt: now.Add(a.o.Lifetime / 2)}
	a.mu.Unlock()
	return tok, nil
}

// subject is the "sub" asserted for p: see AssertionOptions.LocalIssuer.
func (a *Assertion) subject(p Principal) string {
	if p.Issuer == "" || p.Issuer == a.o.LocalIssuer {
		return p.Subject
	}
	return p.Issuer + "#" + p.Subject
}

// JWKS returns the JSON Web Key Set holding the public key, for the
// upstream to verify assertions with.
func (a *Assertion) JWKS() []byte {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &a.o.Key.PublicKey, KeyID: a.kid, Algorithm: string(jose.ES256), Use: "sig"}}}
	b, _ := json.Marshal(set)
	return b
}

// LoadOrCreateKey returns the P-256 key in the PEM file at path, creating
// it (mode 0600) when it does not exist.
func LoadOrCreateKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("credentials: %s holds no PEM block", path)
		}
		k, err := x509.ParseECPrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("credentials: %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreateKey(path)
	}
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	return k, f.Close()
}
