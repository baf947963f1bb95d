package resourceservertest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// DPoPKey is a DPoP client's key pair (RFC 9449): it signs proofs with
// ES256 and embeds its public JWK.
type DPoPKey struct {
	Private *ecdsa.PrivateKey
	// JKT is the RFC 7638 SHA-256 thumbprint of the public key, base64url:
	// the "cnf.jkt" of tokens bound to this key.
	JKT string
}

// NewDPoPKey generates a P-256 key.
func NewDPoPKey() (*DPoPKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tp, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	return &DPoPKey{Private: priv, JKT: base64.RawURLEncoding.EncodeToString(tp)}, nil
}

// Proof describes a DPoP proof (RFC 9449 section 4.2).
type Proof struct {
	Method string // htm
	URL    string // htu
	// AccessToken, if set, is hashed into "ath".
	AccessToken string
	Nonce       string
	// IssuedAt is "iat"; zero means now.
	IssuedAt time.Time
	// JTI is "jti"; empty means random.
	JTI string
	// Claims are added to (or replace) the claims above.
	Claims map[string]any
}

// Proof returns a signed DPoP proof JWT (typ dpop+jwt, the public key as
// "jwk").
func (k *DPoPKey) Proof(p Proof) (string, error) {
	iat := p.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	jti := p.JTI
	if jti == "" {
		jti = rand.Text()
	}
	c := map[string]any{"jti": jti, "htm": p.Method, "htu": p.URL, "iat": iat.Unix()}
	if p.AccessToken != "" {
		sum := sha256.Sum256([]byte(p.AccessToken))
		c["ath"] = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if p.Nonce != "" {
		c["nonce"] = p.Nonce
	}
	for n, v := range p.Claims {
		c[n] = v
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.Private}, opts)
	if err != nil {
		return "", err
	}
	jws, err := s.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
