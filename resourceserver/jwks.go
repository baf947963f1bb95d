package resourceserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// Key-set bounds: a JWKS with more keys than this is refused as hostile, and
// RSA keys shorter than this are not used (RFC 7518 §3.3: 2048 bits or
// larger MUST be used).
const (
	maxJWKSKeys   = 100
	minRSABits    = 2048
	maxKeysNoKid  = 3
	failedRetryAt = 2 * time.Second
)

// verifyKey is one usable public signature key of a JWKS.
type verifyKey struct {
	kid string
	alg string // the JWK "alg", empty when the key does not restrict it
	key any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
}

// fits reports whether k may verify a signature made with alg (RFC 7518 §3,
// RFC 8037 §3.1): the key type and curve must match the algorithm, and a
// JWK that names its algorithm is used for that one only.
func (k *verifyKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch pk := k.key.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pk.Curve == elliptic.P256()
		case "ES384":
			return pk.Curve == elliptic.P384()
		case "ES512":
			return pk.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return pk.N.BitLen() >= minRSABits
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

type keySet struct {
	keys    []verifyKey
	fetched time.Time
}

// find returns the keys that may verify a token with this header: the keys
// with its kid, or, for a token without kid, every fitting key up to
// maxKeysNoKid (RFC 7515 §4.1.4 makes kid optional; the bound keeps a
// kid-less token from costing more than a few verifications).
func (s *keySet) find(alg, kid string) []verifyKey {
	var out []verifyKey
	for i := range s.keys {
		k := &s.keys[i]
		if kid != "" && k.kid != kid {
			continue
		}
		if k.fits(alg) {
			out = append(out, *k)
			if kid == "" && len(out) == maxKeysNoKid {
				break
			}
		}
	}
	return out
}

// parseJWKS decodes an RFC 7517 §5 JWK set, keeping the public signature
// keys this package can use. A key it cannot use (an encryption key, a
// symmetric key, an unknown type, a short RSA key) is skipped rather than
// failing the set, so an issuer adding a new kind of key does not take
// validation down.
func parseJWKS(b []byte, logger *slog.Logger) ([]verifyKey, error) {
	members, err := jsonx.ObjectMembers(b, 0)
	if err != nil {
		return nil, fmt.Errorf("jwks is not a valid JSON object: %w", err)
	}
	var keysRaw []byte
	for _, m := range members {
		if m.Key == "keys" {
			keysRaw = m.Value
		}
	}
	if keysRaw == nil {
		return nil, errors.New(`jwks has no "keys" array`)
	}
	var out []verifyKey
	n := 0
	var walkErr error
	err = jsonx.WalkArray(keysRaw, func(elem []byte) bool {
		n++
		if n > maxJWKSKeys {
			walkErr = fmt.Errorf("jwks has more than %d keys", maxJWKSKeys)
			return false
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(elem); err != nil {
			logger.Debug("jwks: skipping a key that does not parse", "error", err)
			return true
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			return true
		}
		pub := jwk.Public()
		if pub.Key == nil {
			// Symmetric keys have no public half: never usable here, so
			// an HS* token can never be checked against them.
			return true
		}
		k := verifyKey{kid: jwk.KeyID, alg: jwk.Algorithm, key: pub.Key}
		if rk, ok := k.key.(*rsa.PublicKey); ok && rk.N.BitLen() < minRSABits {
			logger.Warn("jwks: skipping an RSA key shorter than 2048 bits", "kid", jwk.KeyID)
			return true
		}
		out = append(out, k)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if walkErr != nil {
		return nil, walkErr
	}
	return out, nil
}

// jwksCache holds the signing keys of one issuer.
//
// Keys are fetched on first use and refetched when a token names an
// unknown kid (key rotation), at most once per minRefresh however many such
// tokens arrive: a flood of made-up kids costs one fetch per interval, not
// one per token. Keys older than maxAge are refetched by the first request
// that notices, while the other requests keep using the current keys; if
// that refetch fails the current keys stay in use.
type jwksCache struct {
	issuer     string
	client     *http.Client
	now        func() time.Time
	minRefresh time.Duration
	maxAge     time.Duration
	logger     *slog.Logger

	set atomic.Pointer[keySet]

	mu          sync.Mutex
	jwksURL     string // configured or discovered; guarded by mu
	lastAttempt time.Time
	lastErr     error
	inflight    chan struct{}
}

var errRateLimited = errors.New("jwks refetch rate limited")

// lookup returns the candidate keys for a token header.
func (c *jwksCache) lookup(ctx context.Context, alg, kid string) ([]verifyKey, error) {
	set := c.set.Load()
	if set != nil {
		if keys := set.find(alg, kid); len(keys) > 0 {
			if c.now().Sub(set.fetched) > c.maxAge {
				_ = c.refresh(ctx, false)
			}
			return keys, nil
		}
	}
	err := c.refresh(ctx, true)
	if set = c.set.Load(); set == nil {
		if err == nil {
			err = errors.New("no keys")
		}
		return nil, fmt.Errorf("%w: signing keys of %s: %w", ErrUnavailable, c.issuer, err)
	}
	if keys := set.find(alg, kid); len(keys) > 0 {
		return keys, nil
	}
	return nil, invalidToken("no signing key of the issuer matches the token", fmt.Errorf("kid %q alg %s: %w", kid, alg, errOrUnknown(err)))
}

func errOrUnknown(err error) error {
	if err == nil {
		return errors.New("unknown key")
	}
	return err
}

// refresh fetches the key set unless another fetch is running (then it
// waits for it when wait is true) or the last attempt is too recent.
func (c *jwksCache) refresh(ctx context.Context, wait bool) error {
	c.mu.Lock()
	if ch := c.inflight; ch != nil {
		c.mu.Unlock()
		if !wait {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		err := c.lastErr
		c.mu.Unlock()
		return err
	}
	now := c.now()
	interval := c.minRefresh
	if c.set.Load() == nil && c.lastErr != nil {
		// Nothing loaded yet: retry sooner, so an issuer that was down when
		// the first token arrived is picked up quickly.
		interval = min(interval, failedRetryAt)
	}
	if !c.lastAttempt.IsZero() && now.Sub(c.lastAttempt) < interval {
		err := c.lastErr
		c.mu.Unlock()
		if err == nil {
			err = errRateLimited
		}
		return err
	}
	c.lastAttempt = now
	ch := make(chan struct{})
	c.inflight = ch
	jwksURL := c.jwksURL
	c.mu.Unlock()

	// The fetch outlives the request that started it: a client hanging up
	// must not waste the attempt the rate limit allows.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), defaultFetchTimeout)
	defer cancel()
	set, discovered, err := c.fetch(fctx, jwksURL)

	c.mu.Lock()
	if discovered != "" {
		c.jwksURL = discovered
	}
	c.lastErr = err
	c.inflight = nil
	if err == nil {
		c.set.Store(set)
	}
	c.mu.Unlock()
	close(ch)
	if err != nil {
		c.logger.Warn("fetching signing keys failed", "issuer", c.issuer, "error", err)
	}
	return err
}

func (c *jwksCache) fetch(ctx context.Context, jwksURL string) (*keySet, string, error) {
	var discovered string
	if jwksURL == "" {
		md, err := discover(ctx, c.client, c.issuer)
		if err != nil {
			return nil, "", err
		}
		if md.jwksURI == "" {
			return nil, "", fmt.Errorf("issuer %s metadata has no jwks_uri", c.issuer)
		}
		jwksURL, discovered = md.jwksURI, md.jwksURI
	}
	body, err := getJSON(ctx, c.client, jwksURL, maxJWKSBytes)
	if err != nil {
		return nil, discovered, err
	}
	keys, err := parseJWKS(body, c.logger)
	if err != nil {
		return nil, discovered, fmt.Errorf("%s: %w", jwksURL, err)
	}
	return &keySet{keys: keys, fetched: c.now()}, discovered, nil
}

// verifyJWS checks the compact JWS signature of token with key (RFC 7515
// §5.2), through go-jose, allowing only alg.
func verifyJWS(token, alg string, key any) error {
	sig, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
	if err != nil {
		return err
	}
	_, err = sig.Verify(key)
	return err
}
