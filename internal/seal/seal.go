package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"

	"github.com/mcpfort/mcpfort/internal/base64url"
)

// MinSecret is the shortest secret New accepts, in bytes.
const MinSecret = 32

const nonceLen = 12

// ErrInvalid reports a value that is malformed, forged, altered, sealed
// for other additional data, or sealed with a key the Keys lack.
var ErrInvalid = errors.New("seal: invalid sealed value")

// Options configures New.
type Options struct {
	// Info is the HKDF info string: it separates these keys from any
	// other keys derived from the same secrets. Required.
	Info string
	// KeyID prefixes each sealed value with a byte naming its key.
	KeyID bool
}

// Keys seal with their first key and open with any. They are immutable
// and safe for concurrent use; a rotation builds new Keys.
type Keys struct {
	aeads []cipher.AEAD
	ids   []byte // the first byte of SHA-256 over each derived key
	keyID bool
}

// New derives one AES-256-GCM key from each secret, the first of which
// seals. Secrets must be at least MinSecret bytes of high entropy.
func New(o Options, secrets ...[]byte) (*Keys, error) {
	if o.Info == "" {
		return nil, errors.New("seal: no HKDF info")
	}
	if len(secrets) == 0 {
		return nil, errors.New("seal: no secret")
	}
	k := &Keys{keyID: o.KeyID}
	for _, s := range secrets {
		if len(s) < MinSecret {
			return nil, errors.New("seal: a secret is shorter than 32 bytes")
		}
		key, err := hkdf.Key(sha256.New, s, nil, o.Info, 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(key)
		k.aeads = append(k.aeads, aead)
		k.ids = append(k.ids, sum[0])
	}
	return k, nil
}

// Seal encrypts and authenticates plain with the first key, bound to ad.
func (k *Keys) Seal(ad, plain []byte) (string, error) {
	a := k.aeads[0]
	head := 0
	if k.keyID {
		head = 1
	}
	buf := make([]byte, head+nonceLen, head+nonceLen+len(plain)+a.Overhead())
	if k.keyID {
		buf[0] = k.ids[0]
	}
	if _, err := rand.Read(buf[head:]); err != nil {
		return "", err
	}
	buf = a.Seal(buf, buf[head:head+nonceLen], plain, ad)
	return base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open returns what one of the keys sealed with ad, or ErrInvalid. Callers
// bound the length of sealed before calling.
func (k *Keys) Open(ad []byte, sealed string) ([]byte, error) {
	raw, err := base64url.Decode(sealed)
	head := 0
	if k.keyID {
		head = 1
	}
	if err != nil || len(raw) < head+nonceLen+k.aeads[0].Overhead() {
		return nil, ErrInvalid
	}
	nonce, ct := raw[head:head+nonceLen], raw[head+nonceLen:]
	for i, a := range k.aeads {
		if k.keyID && k.ids[i] != raw[0] {
			continue
		}
		if p, err := a.Open(nil, nonce, ct, ad); err == nil {
			return p, nil
		}
	}
	return nil, ErrInvalid
}
