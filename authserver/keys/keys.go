package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/mcpfort/mcpfort/internal/base64url"
	"github.com/mcpfort/mcpfort/storage"
)

// Signing algorithms (RFC 7518 section 3.1, RFC 8037 section 3.1).
const (
	ES256 = "ES256"
	RS256 = "RS256"
	EdDSA = "EdDSA"
)

// Options configures a Manager. The zero value of every field but Store
// and KeyEncryptionKey is a documented default.
type Options struct {
	// Store persists the keys. Required.
	Store storage.KeyStore
	// KeyEncryptionKey seals private keys at rest with AES-256-GCM.
	// Exactly 32 bytes. Required; see LoadOrCreateKEKFile for the embedded
	// default.
	KeyEncryptionKey []byte
	// PreviousKeyEncryptionKeys still open keys sealed before the
	// key-encryption key was replaced; new keys are sealed with
	// KeyEncryptionKey only. Keep a previous key until every signing key
	// it sealed has been removed (RotationPeriod plus RetainAfter after the
	// change), then drop it.
	PreviousKeyEncryptionKeys [][]byte
	// Algorithm of new keys: "ES256" (default), "RS256" (2048-bit) or
	// "EdDSA" (Ed25519). Changing it takes effect at the next rotation;
	// keys of the old algorithm stay valid until they retire.
	Algorithm string
	// RotationPeriod is how long each key signs. If zero, 30 days.
	RotationPeriod time.Duration
	// PublishAhead is how long a key is in the JWKS before it signs. If
	// zero, 24 hours; it must be shorter than RotationPeriod.
	PublishAhead time.Duration
	// RetainAfter is how long a key stays in the JWKS after it stopped
	// signing. It must exceed the longest access-token lifetime. If zero,
	// 24 hours.
	RetainAfter time.Duration
	// ReloadInterval is how often the key set is re-read from the store
	// (to see keys other replicas created) and the schedule applied. If
	// zero, one minute.
	ReloadInterval time.Duration
	// Now returns the current time. If nil, time.Now.
	Now func() time.Time
	// Logger receives rotation events. If nil, nothing is logged.
	Logger *slog.Logger
}

// Manager signs and verifies the server's JWTs and serves its JWKS. It is
// safe for concurrent use.
type Manager struct {
	opts Options
	kek  atomic.Pointer[kekSet]

	mu       sync.RWMutex
	keys     []*key // ordered by generation
	jwks     []byte
	loadedAt time.Time
	reload   sync.Mutex // serializes reloads
}

type key struct {
	id        string
	alg       string
	gen       int64
	priv      crypto.Signer
	pub       jose.JSONWebKey
	activeAt  time.Time
	expiresAt time.Time
	// retireAt is when its successor started signing (zero while it is the
	// newest active key); it is published until retireAt+RetainAfter.
	retireAt time.Time

	signersMu sync.Mutex
	signers   map[string]jose.Signer // by "typ"
}

// New loads the key set, applies the rotation schedule (creating the first
// key if there is none) and returns the Manager.
func New(ctx context.Context, opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("keys: Store is required")
	}
	ks, err := newKEKSet(opts.KeyEncryptionKey, opts.PreviousKeyEncryptionKeys)
	if err != nil {
		return nil, err
	}
	switch opts.Algorithm {
	case "":
		opts.Algorithm = ES256
	case ES256, RS256, EdDSA:
	default:
		return nil, fmt.Errorf("keys: unsupported algorithm %q (want ES256, RS256 or EdDSA)", opts.Algorithm)
	}
	if opts.RotationPeriod == 0 {
		opts.RotationPeriod = 30 * 24 * time.Hour
	}
	if opts.PublishAhead == 0 {
		opts.PublishAhead = 24 * time.Hour
	}
	if opts.RetainAfter == 0 {
		opts.RetainAfter = 24 * time.Hour
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = time.Minute
	}
	if opts.PublishAhead >= opts.RotationPeriod {
		return nil, errors.New("keys: PublishAhead must be shorter than RotationPeriod")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opts: opts}
	m.kek.Store(ks)
	if err := m.Rotate(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Algorithms returns the algorithms of the published keys, the values a
// verifier of this server's tokens must accept.
func (m *Manager) Algorithms() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []string
	for _, k := range m.keys {
		if !containsStr(out, k.alg) {
			out = append(out, k.alg)
		}
	}
	return out
}

// Rotate reloads the key set from the store and applies the schedule:
// it creates the successor of the newest key once that key is within
// PublishAhead of the end of its period (immediately, active at once, if
// there is no key or the newest is overdue) and deletes keys whose
// publication window has closed. Call it periodically; Sign also does
// every ReloadInterval.
func (m *Manager) Rotate(ctx context.Context) error {
	m.reload.Lock()
	defer m.reload.Unlock()
	now := m.opts.Now()
	stored, err := m.opts.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	var newest *storage.SigningKey
	if len(stored) > 0 {
		newest = stored[len(stored)-1]
	}
	if newest == nil || !now.Before(newest.ActiveAt.Add(m.opts.RotationPeriod-m.opts.PublishAhead)) {
		activeAt, gen := now, int64(1)
		if newest != nil {
			gen = newest.Generation + 1
			if next := newest.ActiveAt.Add(m.opts.RotationPeriod); next.After(now) {
				activeAt = next
			}
		}
		sk, err := m.generate(gen, activeAt, now)
		if err != nil {
			return err
		}
		switch err := m.opts.Store.CreateSigningKey(ctx, sk); {
		case err == nil:
			m.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "signing key created",
				slog.String("kid", sk.ID), slog.String("alg", sk.Algorithm), slog.Time("active_at", sk.ActiveAt))
		case errors.Is(err, storage.ErrConflict):
			// Another replica rotated first; its key is as good as ours.
		default:
			return fmt.Errorf("keys: create: %w", err)
		}
		if stored, err = m.opts.Store.ListSigningKeys(ctx); err != nil {
			return fmt.Errorf("keys: list: %w", err)
		}
	}
	keys := make([]*key, 0, len(stored))
	m.mu.RLock()
	old := map[string]*key{}
	for _, k := range m.keys {
		old[k.id] = k
	}
	m.mu.RUnlock()
	for _, sk := range stored {
		k := old[sk.ID]
		if k == nil {
			if k, err = m.open(sk); err != nil {
				return err
			}
		}
		keys = append(keys, k)
	}
	// A key retires when a newer key becomes active.
	var live []*key
	for i, k := range keys {
		k.retireAt = time.Time{}
		for _, n := range keys[i+1:] {
			if !n.activeAt.After(now) {
				k.retireAt = n.activeAt
			}
		}
		if !k.retireAt.IsZero() && now.After(k.retireAt.Add(m.opts.RetainAfter)) && now.After(k.expiresAt) {
			if err := m.opts.Store.DeleteSigningKey(ctx, k.id); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return fmt.Errorf("keys: delete: %w", err)
			}
			m.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "signing key removed", slog.String("kid", k.id))
			continue
		}
		live = append(live, k)
	}
	set := jose.JSONWebKeySet{}
	for _, k := range live {
		set.Keys = append(set.Keys, k.pub)
	}
	jwks, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("keys: marshal jwks: %w", err)
	}
	m.mu.Lock()
	m.keys, m.jwks, m.loadedAt = live, jwks, now
	m.mu.Unlock()
	return nil
}

// generate makes a new key pair, sealed for storage.
func (m *Manager) generate(gen int64, activeAt, now time.Time) (*storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch m.opts.Algorithm {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generate: %w", err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: m.opts.Algorithm, Use: "sig"}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("keys: thumbprint: %w", err)
	}
	// The RFC 7638 thumbprint is a stable, collision-free kid.
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: marshal public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: marshal private key: %w", err)
	}
	return &storage.SigningKey{
		ID: pub.KeyID, Algorithm: m.opts.Algorithm, Generation: gen,
		PrivateKeyCiphertext: seal(m.kek.Load().seal, der, sealAD(pub.KeyID, m.opts.Algorithm)),
		PublicJWK:            pubJSON,
		CreatedAt:            now,
		ActiveAt:             activeAt,
		ExpiresAt:            activeAt.Add(m.opts.RotationPeriod + m.opts.RetainAfter),
	}, nil
}

func sealAD(kid, alg string) string { return "mcpfort/signing-key/v1|" + kid + "|" + alg }

// open decrypts a stored key and checks that its public half matches.
func (m *Manager) open(sk *storage.SigningKey) (*key, error) {
	var der []byte
	err := errors.New("sealed key: no key-encryption key")
	for _, a := range m.kek.Load().open {
		if der, err = open(a, sk.PrivateKeyCiphertext, sealAD(sk.ID, sk.Algorithm)); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", sk.ID, err)
	}
	p, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: key %s: %w", sk.ID, err)
	}
	priv, ok := p.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keys: key %s: not a signing key", sk.ID)
	}
	var pub jose.JSONWebKey
	if err := pub.UnmarshalJSON(sk.PublicJWK); err != nil {
		return nil, fmt.Errorf("keys: key %s: public JWK: %w", sk.ID, err)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := priv.Public().(equaler); !ok || !e.Equal(pub.Key) || pub.KeyID != sk.ID {
		return nil, fmt.Errorf("keys: key %s: public key does not match private key", sk.ID)
	}
	return &key{id: sk.ID, alg: sk.Algorithm, gen: sk.Generation, priv: priv, pub: pub,
		activeAt: sk.ActiveAt, expiresAt: sk.ExpiresAt, signers: map[string]jose.Signer{}}, nil
}

// current returns the key to sign with: the newest active one. It
// reloads first if the set is older than ReloadInterval.
func (m *Manager) current(ctx context.Context) (*key, error) {
	now := m.opts.Now()
	m.mu.RLock()
	stale := now.Sub(m.loadedAt) >= m.opts.ReloadInterval
	m.mu.RUnlock()
	if stale {
		if err := m.Rotate(ctx); err != nil {
			// Keep signing with what we have; the store may be briefly down.
			m.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "signing key reload failed", slog.String("error", err.Error()))
		}
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var cur *key
	for _, k := range m.keys {
		if !k.activeAt.After(now) {
			cur = k
		}
	}
	if cur == nil {
		return nil, errors.New("keys: no active signing key")
	}
	return cur, nil
}

// Sign signs payload (a JSON object) as a compact JWS with the current key,
// the "kid" header set and the "typ" header set to typ (for example
// "at+jwt", RFC 9068 section 2.1). It returns the key id used.
func (m *Manager) Sign(ctx context.Context, typ string, payload []byte) (token, kid string, err error) {
	k, err := m.current(ctx)
	if err != nil {
		return "", "", err
	}
	k.signersMu.Lock()
	s := k.signers[typ]
	if s == nil {
		opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
		s, err = jose.NewSigner(jose.SigningKey{
			Algorithm: jose.SignatureAlgorithm(k.alg),
			Key:       jose.JSONWebKey{Key: k.priv, KeyID: k.id, Algorithm: k.alg},
		}, opts)
		if err != nil {
			k.signersMu.Unlock()
			return "", "", fmt.Errorf("keys: signer: %w", err)
		}
		k.signers[typ] = s
	}
	k.signersMu.Unlock()
	jws, err := s.Sign(payload)
	if err != nil {
		return "", "", fmt.Errorf("keys: sign: %w", err)
	}
	out, err := jws.CompactSerialize()
	return out, k.id, err
}

// ErrInvalidSignature is returned by Verify for any token it does not
// accept: malformed, unknown key, wrong algorithm or type, bad signature.
var ErrInvalidSignature = errors.New("keys: invalid token signature")

// Verify checks a compact JWS signed by one of the published keys with the
// key's own algorithm and, if typ is not empty, the given "typ" header
// (compared case-insensitively, with or without the "application/"
// prefix, RFC 7515 section 4.1.9). It returns the payload; the caller
// validates the claims.
func (m *Manager) Verify(token, typ string) ([]byte, error) {
	m.mu.RLock()
	keys := m.keys
	m.mu.RUnlock()
	algs := make([]jose.SignatureAlgorithm, 0, 3)
	for _, k := range keys {
		if !containsAlg(algs, jose.SignatureAlgorithm(k.alg)) {
			algs = append(algs, jose.SignatureAlgorithm(k.alg))
		}
	}
	if base64url.CompactJWS(token) != nil {
		return nil, ErrInvalidSignature
	}
	jws, err := jose.ParseSignedCompact(token, algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, ErrInvalidSignature
	}
	h := jws.Signatures[0].Protected
	if typ != "" && !TypeMatches(h.ExtraHeaders[jose.HeaderType], typ) {
		return nil, ErrInvalidSignature
	}
	for _, k := range keys {
		if k.id == h.KeyID && k.alg == h.Algorithm {
			payload, err := jws.Verify(k.pub.Key)
			if err != nil {
				return nil, ErrInvalidSignature
			}
			return payload, nil
		}
	}
	return nil, ErrInvalidSignature
}

// TypeMatches reports whether a JOSE "typ" header value names want:
// media types are case-insensitive and "application/" may be omitted
// (RFC 7515 section 4.1.9).
func TypeMatches(header any, want string) bool {
	s, ok := header.(string)
	if !ok {
		return false
	}
	norm := func(v string) string {
		return strings.TrimPrefix(strings.ToLower(v), "application/")
	}
	return norm(s) == norm(want)
}

// JWKS returns the JSON Web Key Set of the published public keys (RFC 7517
// section 5): keys about to sign, the signing key, and retired keys still
// within RetainAfter.
func (m *Manager) JWKS() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.jwks
}

func containsStr(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func containsAlg(l []jose.SignatureAlgorithm, a jose.SignatureAlgorithm) bool {
	for _, v := range l {
		if v == a {
			return true
		}
	}
	return false
}
