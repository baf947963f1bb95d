package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/mcpfort/mcpfort/authserver/keys"
	"github.com/mcpfort/mcpfort/config"
	"github.com/mcpfort/mcpfort/secrets"
)

// kekRing is the key-encryption keyring: the current key
// (authserver.key_encryption_key, or state.dir/authserver.kek without
// one), which seals; the configured previous keys; and the values the
// current key had earlier in this process. Every key of the ring opens.
//
// A referenced key that rotates in its secret manager takes effect at once
// (the keyring rule): the authorization server seals with the new value
// and still opens what the old one sealed, and the audit chain key file is
// sealed again with it. The old value is remembered until the process
// exits; list it in authserver.previous_key_encryption_keys before the
// next start if signing keys it sealed are still in use.
type kekRing struct {
	mu       sync.Mutex
	current  []byte
	previous [][]byte // configured, by index
	retired  [][]byte // earlier values of current, newest first
	watchers []func(current []byte, opening [][]byte)
}

// keyEncryptionKeys returns the keyring, resolving its references on first
// use.
func (a *App) keyEncryptionKeys() (*kekRing, error) {
	if a.keks != nil {
		return a.keks, nil
	}
	r := &kekRing{}
	ac := a.cfg.AuthServer
	if ac.KeyEncryptionKey == nil {
		k, err := keys.LoadOrCreateKEKFile(filepath.Join(a.cfg.State.Dir, "authserver.kek"))
		if err != nil {
			return nil, err
		}
		r.current = k
	} else {
		s, k, err := a.kekSecret("authserver.key_encryption_key", *ac.KeyEncryptionKey)
		if err != nil {
			return nil, err
		}
		r.current = k
		s.OnChange(func(_, v secrets.Value) { a.rotateKEK(r, "authserver.key_encryption_key", -1, v) })
	}
	for i, ref := range ac.PreviousKeyEncryptionKeys {
		field := fmt.Sprintf("authserver.previous_key_encryption_keys[%d]", i)
		s, k, err := a.kekSecret(field, ref)
		if err != nil {
			return nil, err
		}
		r.previous = append(r.previous, k)
		s.OnChange(func(_, v secrets.Value) { a.rotateKEK(r, field, i, v) })
	}
	a.keks = r
	return r, nil
}

func (a *App) kekSecret(field string, ref config.SecretRef) (*secrets.Secret, []byte, error) {
	s, err := a.secret(context.Background(), field, ref)
	if err != nil {
		return nil, nil, err
	}
	k, err := keys.ParseKEK(strings.TrimSpace(s.Value().Reveal()))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", field, ref, err)
	}
	return s, k, nil
}

// rotateKEK takes a changed value of the current key (index -1) or of a
// previous one, and tells the keyring's users. A value that is not a key
// is refused: the ring stays as it was.
func (a *App) rotateKEK(r *kekRing, field string, index int, v secrets.Value) {
	k, err := keys.ParseKEK(strings.TrimSpace(v.Reveal()))
	if err != nil {
		a.log.Error("the rotated key-encryption key is unusable; the keyring stays as it was", "field", field, "err", err)
		return
	}
	r.mu.Lock()
	if index < 0 {
		if !bytes.Equal(k, r.current) {
			r.retired = append([][]byte{r.current}, r.retired...)
			r.current = k
		}
	} else {
		r.previous[index] = k
	}
	cur, opening := r.current, r.openingLocked()
	watchers := r.watchers
	r.mu.Unlock()
	for _, w := range watchers {
		w(cur, opening)
	}
	a.log.Info("key-encryption keyring changed", "field", field, "opening_keys", len(opening))
}

// keys returns the current key and every key that opens, current first.
func (r *kekRing) keys() (current []byte, opening [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current, r.openingLocked()
}

func (r *kekRing) openingLocked() [][]byte {
	out := [][]byte{r.current}
	for _, k := range append(append([][]byte{}, r.previous...), r.retired...) {
		dup := false
		for _, o := range out {
			dup = dup || bytes.Equal(o, k)
		}
		if !dup {
			out = append(out, k)
		}
	}
	return out
}

// onChange registers f, called with the new current key and the keys that
// open (current first) after the ring changes.
func (r *kekRing) onChange(f func(current []byte, opening [][]byte)) {
	r.mu.Lock()
	r.watchers = append(r.watchers, f)
	r.mu.Unlock()
}

// openSecret opens what keys.SealSecret sealed with ad under any key of
// the ring ks (the current key first, then the previous ones).
func openSecret(ks [][]byte, sealed []byte, ad string) ([]byte, error) {
	err := errors.New("no key-encryption key")
	for _, k := range ks {
		var pt []byte
		if pt, err = keys.OpenSecret(k, sealed, ad); err == nil {
			return pt, nil
		}
	}
	return nil, err
}
