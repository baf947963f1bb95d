package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// LoadOrCreateKEKFile returns the key-encryption key stored base64-encoded
// in the file at path, creating the file (mode 0600, and its directory
// 0700) with a fresh random key if it does not exist.
//
// This is for the embedded default only: the key then lives on the same
// disk as the database it protects, which guards against a leaked database
// dump or backup but not against someone who can read the whole disk.
// Clustered deployments pass the key from a secret manager instead
// (Options.KeyEncryptionKey) and every replica must use the same one.
func LoadOrCreateKEKFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return parseKEK(b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read key-encryption key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create key-encryption key directory: %w", err)
	}
	key := make([]byte, KEKSize)
	_, _ = rand.Read(key)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		// Another process created it first: use theirs.
		return LoadOrCreateKEKFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("create key-encryption key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("write key-encryption key: %w", err)
	}
	return key, nil
}

// ParseKEK decodes a base64 (standard or URL alphabet, padded or not)
// key-encryption key, as found in a KEK file or a secret manager.
func ParseKEK(s string) ([]byte, error) { return parseKEK([]byte(s)) }

func parseKEK(b []byte) ([]byte, error) {
	s := strings.TrimSpace(string(b))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KEKSize {
				return nil, fmt.Errorf("key-encryption key is %d bytes, want %d", len(k), KEKSize)
			}
			return k, nil
		}
	}
	return nil, errors.New("key-encryption key is not base64")
}

// sealVersion prefixes sealed keys so the format can change.
const sealVersion = 1

func newAEAD(kek []byte) (cipher.AEAD, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key must be %d bytes", KEKSize)
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// seal encrypts plaintext with the additional data binding it to its key
// id and algorithm, so a sealed key cannot be swapped onto another row.
func seal(aead cipher.AEAD, plaintext []byte, ad string) []byte {
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce)
	out := append([]byte{sealVersion}, nonce...)
	return aead.Seal(out, nonce, plaintext, []byte(ad))
}

func open(aead cipher.AEAD, sealed []byte, ad string) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < 1+n || sealed[0] != sealVersion {
		return nil, errors.New("sealed key: unknown format")
	}
	pt, err := aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(ad))
	if err != nil {
		return nil, errors.New("sealed key: cannot decrypt (wrong key-encryption key?)")
	}
	return pt, nil
}

// SealSecret encrypts a secret other than a signing key (such as the audit
// chain key) for storage at rest, the way signing keys are sealed:
// AES-256-GCM under the key-encryption key, with ad (which names what the
// secret is and anything stored beside it) as additional data, so that a
// sealed secret cannot be moved to another purpose.
func SealSecret(kek, secret []byte, ad string) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	return seal(aead, secret, ad), nil
}

// OpenSecret decrypts what SealSecret sealed with the same ad.
func OpenSecret(kek, sealed []byte, ad string) ([]byte, error) {
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	return open(aead, sealed, ad)
}

// kekSet is the keyring of key-encryption keys in use: the current key
// seals, the current and the previous keys open (current first).
type kekSet struct {
	seal cipher.AEAD
	open []cipher.AEAD
}

func newKEKSet(current []byte, previous [][]byte) (*kekSet, error) {
	a, err := newAEAD(current)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	ks := &kekSet{seal: a, open: []cipher.AEAD{a}}
	for i, k := range previous {
		p, err := newAEAD(k)
		if err != nil {
			return nil, fmt.Errorf("keys: PreviousKeyEncryptionKeys[%d]: %w", i, err)
		}
		ks.open = append(ks.open, p)
	}
	return ks, nil
}

// SetKeyEncryptionKeys replaces the key-encryption keyring while the
// Manager runs, for a key rotated in its secret manager: keys created from
// now on are sealed with current; stored keys sealed with current or any
// of previous still open. Keys already loaded are not affected. The old
// current key must be among previous for keys it sealed to open after the
// next reload; an invalid key leaves the keyring unchanged.
func (m *Manager) SetKeyEncryptionKeys(current []byte, previous [][]byte) error {
	ks, err := newKEKSet(current, previous)
	if err != nil {
		return err
	}
	m.kek.Store(ks)
	return nil
}
