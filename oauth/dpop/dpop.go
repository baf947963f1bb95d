// Package dpop verifies DPoP proofs (RFC 9449): the structure and
// signature of a proof JWT (section 4.3) and the checks that tie it to a
// request, a token and a key. The authorization server's token endpoint
// (section 5) and resource servers (section 7) share it.
package dpop

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/internal/jsonx"
)

// DefaultAlgorithms are the asymmetric JWS algorithms accepted for
// DPoP proofs (RFC 9449 section 4.3 check 5: "not none", "not symmetric").
var DefaultAlgorithms = []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}

// DefaultWindow is how far a proof's "iat" may be from the verifier's
// clock (RFC 9449 section 11.1; the MCP DPoP profile uses 5 minutes).
const DefaultWindow = 5 * time.Minute

// maxProofBytes bounds a DPoP header: a proof carries one public key, an
// RSA-4096 key is under 1 KiB encoded.
const maxProofBytes = 8 << 10

// Proof is a DPoP proof JWT whose structure and signature were
// checked by [Parse] (RFC 9449 section 4.2).
type Proof struct {
	// JKT is the RFC 7638 SHA-256 thumbprint of the proof's public key,
	// base64url: what "cnf.jkt" of a bound token holds (section 6.1).
	JKT   string
	JTI   string
	HTM   string
	HTU   string
	IAT   time.Time
	ATH   string // empty when absent
	Nonce string // empty when absent
}

// proofClaims is the RFC 9449 section 4.2 claim set.
type proofClaims struct {
	JTI   string      `json:"jti"`
	HTM   string      `json:"htm"`
	HTU   string      `json:"htu"`
	IAT   json.Number `json:"iat"`
	ATH   *string     `json:"ath"`
	Nonce *string     `json:"nonce"`
}

// Parse checks the structure and signature of a DPoP proof (RFC
// 9449 section 4.3 checks 2 to 7): one compact JWS, "typ" dpop+jwt, "alg"
// in algs (nil means [DefaultAlgorithms]; never none or a MAC), a
// "jwk" header that is a valid public key, a signature by that key, and
// the claims jti, htm, htu and iat present with the right types. The
// request-dependent checks are [Proof.Check]'s.
func Parse(proof string, algs []string) (*Proof, error) {
	if len(proof) > maxProofBytes {
		return nil, errors.New("proof too large")
	}
	if algs == nil {
		algs = DefaultAlgorithms
	}
	var allowed []jose.SignatureAlgorithm
	for _, a := range algs {
		// A MAC or "none" is never a proof of possession of a key.
		if a == "none" || strings.HasPrefix(a, "HS") {
			continue
		}
		allowed = append(allowed, jose.SignatureAlgorithm(a))
	}
	if err := base64url.CompactJWS(proof); err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	jws, err := jose.ParseSignedCompact(proof, allowed)
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "dpop+jwt" {
		return nil, errors.New(`proof "typ" is not dpop+jwt`)
	}
	jwk := h.JSONWebKey
	if jwk == nil || !jwk.Valid() || !jwk.IsPublic() {
		return nil, errors.New(`proof "jwk" is missing, invalid or not a public key`)
	}
	if _, sym := jwk.Key.([]byte); sym {
		return nil, errors.New(`proof "jwk" is a symmetric key`)
	}
	payload, err := jws.Verify(jwk)
	if err != nil {
		return nil, errors.New("proof signature does not verify with its jwk")
	}
	if err := jsonx.Validate(payload, 8); err != nil || !jsonx.IsObject(payload) {
		return nil, errors.New("proof claims are not a JSON object")
	}
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.UseNumber()
	var c proofClaims
	if err := dec.Decode(&c); err != nil {
		return nil, errors.New("proof claims have the wrong types")
	}
	iat, err := c.IAT.Int64()
	if c.JTI == "" || c.HTM == "" || c.HTU == "" || err != nil {
		return nil, errors.New("proof lacks jti, htm, htu or iat")
	}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, errors.New("proof jwk has no thumbprint")
	}
	p := &Proof{JKT: base64.RawURLEncoding.EncodeToString(tp), JTI: c.JTI, HTM: c.HTM, HTU: c.HTU, IAT: time.Unix(iat, 0)}
	if c.ATH != nil {
		p.ATH = *c.ATH
	}
	if c.Nonce != nil {
		p.Nonce = *c.Nonce
	}
	return p, nil
}

// Check is what a proof must match for one request.
type Check struct {
	// Method is the HTTP method of the request ("htm").
	Method string
	// URL is the request URL as the server is configured to be reached
	// ("htu"), never rebuilt from X-Forwarded headers. Its query and
	// fragment are ignored (RFC 9449 section 4.3 check 9).
	URL string
	// AccessToken, when set, must hash to "ath" (section 4.3 check 12).
	AccessToken string
	// JKT, when set, must be the proof key's thumbprint ("cnf.jkt" of the
	// token, section 4.3 check 12).
	JKT string
	// Now is the verifier's clock; Window bounds |iat - now| (zero means
	// [DefaultWindow]).
	Now    time.Time
	Window time.Duration
	// Nonce, when set, judges the proof's "nonce" (section 4.3 check 10):
	// it returns an error when a fresh nonce must be used.
	Nonce func(nonce string) error
	// Replay remembers jti values for the acceptance window (section 11.1).
	// Required.
	Replay ReplayCache
}

// Errors of [Proof.Check] that need a specific answer.
var (
	// ErrNonce means the proof lacks the required nonce, or carries a
	// stale one: answer use_dpop_nonce with a fresh DPoP-Nonce (section 8, 9).
	ErrNonce = errors.New("use_dpop_nonce")
	// ErrReplayUnavailable means the replay cache could not answer: the
	// proof is refused, but the request may be retried.
	ErrReplayUnavailable = errors.New("dpop replay cache unavailable")
)

// Check verifies the request-dependent claims of p (RFC 9449 section 4.3
// checks 8 to 12) and records its jti, last, so that a proof refused for
// another reason may still be corrected by its sender.
func (p *Proof) Check(ctx context.Context, c Check) error {
	if c.Replay == nil {
		return errors.New("dpop: no replay cache")
	}
	if p.HTM != c.Method {
		return errors.New(`proof "htm" does not match the request method`)
	}
	if !sameHTU(p.HTU, c.URL) {
		return errors.New(`proof "htu" does not match the request URL`)
	}
	w := c.Window
	if w <= 0 {
		w = DefaultWindow
	}
	if d := c.Now.Sub(p.IAT); d > w || d < -w {
		return errors.New(`proof "iat" is outside the acceptance window`)
	}
	if c.AccessToken != "" {
		sum := sha256.Sum256([]byte(c.AccessToken))
		want := base64.RawURLEncoding.EncodeToString(sum[:])
		if subtle.ConstantTimeCompare([]byte(p.ATH), []byte(want)) != 1 {
			return errors.New(`proof "ath" does not match the access token`)
		}
	}
	if c.JKT != "" && subtle.ConstantTimeCompare([]byte(p.JKT), []byte(c.JKT)) != 1 {
		return errors.New("proof key does not match the token's cnf.jkt")
	}
	if c.Nonce != nil {
		if err := c.Nonce(p.Nonce); err != nil {
			return errors.Join(ErrNonce, err)
		}
	}
	// Keyed by key and jti: another key's jti cannot evict or block it.
	fresh, err := c.Replay.Add(ctx, p.JKT+"|"+p.JTI, p.IAT.Add(w))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReplayUnavailable, err)
	}
	if !fresh {
		return errors.New(`proof "jti" was already used`)
	}
	return nil
}

// sameHTU compares an htu claim with the request URL, both without query
// and fragment, scheme and host case-insensitively and tolerating one
// trailing slash (RFC 9449 section 4.3 check 9; RFC 3986 section 6.2.2).
func sameHTU(claim, want string) bool {
	norm := func(s string) (string, bool) {
		u, err := url.Parse(s)
		if err != nil || !u.IsAbs() || u.Host == "" || u.User != nil {
			return "", false
		}
		host := strings.ToLower(u.Host)
		scheme := strings.ToLower(u.Scheme)
		if scheme == "https" {
			host = strings.TrimSuffix(host, ":443")
		} else if scheme == "http" {
			host = strings.TrimSuffix(host, ":80")
		}
		path := u.EscapedPath()
		path = strings.TrimSuffix(path, "/")
		return scheme + "://" + host + path, true
	}
	a, ok1 := norm(claim)
	b, ok2 := norm(want)
	return ok1 && ok2 && a == b
}

// ReplayCache remembers DPoP proof identifiers until they expire (RFC 9449
// section 11.1). A Redis-backed implementation (SET NX PX) lets replicas
// share it.
type ReplayCache interface {
	// Add records key until exp. It reports false if key was already
	// recorded and not expired. An error means the verdict is unknown; the
	// proof is then refused.
	Add(ctx context.Context, key string, exp time.Time) (bool, error)
}

// MemoryReplayCache is an in-process [ReplayCache] bounded to Max entries.
// When full of unexpired entries it refuses new ones (fails closed) rather
// than forgetting a jti that could then be replayed.
type MemoryReplayCache struct {
	// Max bounds the entries; zero means 100000.
	Max int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]time.Time
	next    time.Time // next sweep
}

// errReplayFull reports a full MemoryReplayCache.
var errReplayFull = errors.New("replay cache full")

// Add implements [ReplayCache].
func (m *MemoryReplayCache) Add(_ context.Context, key string, exp time.Time) (bool, error) {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	limit := m.Max
	if limit <= 0 {
		limit = 100000
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.entries == nil {
		m.entries = map[string]time.Time{}
	}
	if e, ok := m.entries[key]; ok && now.Before(e) {
		return false, nil
	}
	if len(m.entries) >= limit || !now.Before(m.next) {
		for k, e := range m.entries {
			if !now.Before(e) {
				delete(m.entries, k)
			}
		}
		m.next = now.Add(time.Minute)
		if len(m.entries) >= limit {
			return false, errReplayFull
		}
	}
	m.entries[key] = exp
	return true, nil
}
