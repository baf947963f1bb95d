package dpop

import (
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"

	"github.com/mcpfort/mcpfort/internal/seal"
)

// Nonces issues and checks server nonces (RFC 9449 section 8 for an
// authorization server, section 9 for a resource server) without state:
// a nonce is its expiry sealed with AES-256-GCM, so every replica that
// shares the secrets accepts every replica's nonces, and nothing is
// stored. The first secret seals; all of them open, so a secret can be
// rotated without refusing the nonces in flight. Nonces is safe for
// concurrent use; Replace swaps the secrets while it serves.
type Nonces struct {
	keys     atomic.Pointer[seal.Keys]
	ad       []byte
	lifetime time.Duration
	now      func() time.Time
}

// NoncesOptions configures NewNonces.
type NoncesOptions struct {
	// Secrets are at least 32 bytes each; the first seals new nonces.
	// Required.
	Secrets [][]byte
	// Purpose separates the nonces of different servers sharing secrets
	// (a resource URI, say): a nonce of one is refused by another.
	Purpose string
	// Lifetime is how long a nonce is accepted. If zero, 5 minutes.
	Lifetime time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// NewNonces returns a nonce source keyed by o.Secrets (keys derived with
// HKDF-SHA256, internal/seal, so the secrets may be shared with other
// uses).
func NewNonces(o NoncesOptions) (*Nonces, error) {
	n := &Nonces{ad: []byte("mcpfort dpop nonce\x00" + o.Purpose), lifetime: o.Lifetime, now: o.Now}
	if n.lifetime <= 0 {
		n.lifetime = 5 * time.Minute
	}
	if n.now == nil {
		n.now = time.Now
	}
	if err := n.Replace(o.Secrets...); err != nil {
		return nil, err
	}
	return n, nil
}

// Replace swaps in new secrets (the first seals) for every later Issue and
// Check, as when a shared secret rotates: the caller keeps the older
// secrets in the list for as long as the nonces they sealed must still be
// accepted. On error the nonces are unchanged.
func (n *Nonces) Replace(secrets ...[]byte) error {
	if len(secrets) == 0 {
		return errors.New("dpop: nonces need a secret")
	}
	for _, s := range secrets {
		if len(s) < seal.MinSecret {
			return errors.New("dpop: a nonce secret is shorter than 32 bytes")
		}
	}
	keys, err := seal.New(seal.Options{Info: "mcpfort dpop nonce v1"}, secrets...)
	if err != nil {
		return err
	}
	n.keys.Store(keys)
	return nil
}

// Issue returns a fresh nonce.
func (n *Nonces) Issue() (string, error) {
	var exp [8]byte
	binary.BigEndian.PutUint64(exp[:], uint64(n.now().Add(n.lifetime).Unix()))
	return n.keys.Load().Seal(n.ad, exp[:])
}

// errBadNonce is the verdict on a missing, forged or expired nonce.
var errBadNonce = errors.New("nonce missing, invalid or expired")

// maxNonce bounds what Check decodes: an issued nonce is 48 characters.
const maxNonce = 128

// Check accepts a nonce that one of the secrets sealed and that has not
// expired (RFC 9449 section 4.3 check 10). Use it as [Check.Nonce].
func (n *Nonces) Check(nonce string) error {
	if nonce == "" || len(nonce) > maxNonce {
		return errBadNonce
	}
	pt, err := n.keys.Load().Open(n.ad, nonce)
	if err != nil || len(pt) != 8 {
		return errBadNonce
	}
	if exp := int64(binary.BigEndian.Uint64(pt)); n.now().Unix() >= exp {
		return errBadNonce
	}
	return nil
}
