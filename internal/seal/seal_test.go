package seal

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func secret(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSealOpen(t *testing.T) {
	for _, keyID := range []bool{false, true} {
		o := Options{Info: "test v1", KeyID: keyID}
		old, err := New(o, secret(1))
		if err != nil {
			t.Fatal(err)
		}
		rotated, _ := New(o, secret(2), secret(1))
		onlyNew, _ := New(o, secret(2))
		otherInfo, _ := New(Options{Info: "test v2", KeyID: keyID}, secret(1))
		ad := []byte("purpose")
		v, err := old.Seal(ad, []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		for name, k := range map[string]*Keys{"own": old, "rotated": rotated} {
			if p, err := k.Open(ad, v); err != nil || string(p) != "hello" {
				t.Errorf("keyID %v, %s keys: %q, %v", keyID, name, p, err)
			}
		}
		fresh, _ := rotated.Seal(ad, []byte("new"))
		if p, err := onlyNew.Open(ad, fresh); err != nil || string(p) != "new" {
			t.Errorf("keyID %v: not sealed with the first key: %v", keyID, err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(v)
		raw[len(raw)-1] ^= 1
		for name, bad := range map[string]func() ([]byte, error){
			"dropped key":   func() ([]byte, error) { return onlyNew.Open(ad, v) },
			"other info":    func() ([]byte, error) { return otherInfo.Open(ad, v) },
			"other ad":      func() ([]byte, error) { return old.Open([]byte("other"), v) },
			"altered":       func() ([]byte, error) { return old.Open(ad, base64.RawURLEncoding.EncodeToString(raw)) },
			"truncated":     func() ([]byte, error) { return old.Open(ad, v[:10]) },
			"empty":         func() ([]byte, error) { return old.Open(ad, "") },
			"not base64url": func() ([]byte, error) { return old.Open(ad, "!!"+v[2:]) },
			"padded":        func() ([]byte, error) { return old.Open(ad, v+"=") },
			// Other spellings of the same bytes (encoding/base64 skips
			// line breaks and, not strict, ignores unused trailing bits).
			"line break":    func() ([]byte, error) { return old.Open(ad, v[:5]+"\r\n"+v[5:]) },
			"trailing bits": func() ([]byte, error) { return old.Open(ad, lowBitSet(v)) },
		} {
			if _, err := bad(); err != ErrInvalid {
				t.Errorf("keyID %v, %s: %v, want ErrInvalid", keyID, name, err)
			}
		}
	}
	for _, c := range []struct {
		o       Options
		secrets [][]byte
	}{
		{Options{Info: "x"}, nil},
		{Options{Info: "x"}, [][]byte{[]byte("short")}},
		{Options{}, [][]byte{secret(1)}},
	} {
		if _, err := New(c.o, c.secrets...); err == nil {
			t.Errorf("New(%+v, %d secrets) accepted", c.o, len(c.secrets))
		}
	}
}

// FuzzOpen: nothing but a sealed value opens, and no input panics.
func FuzzOpen(f *testing.F) {
	for _, keyID := range []bool{false, true} {
		k, _ := New(Options{Info: "fuzz", KeyID: keyID}, secret(3))
		v, _ := k.Seal(nil, []byte("x"))
		f.Add(v)
	}
	f.Add("")
	f.Add("AAAA")
	kid, _ := New(Options{Info: "fuzz", KeyID: true}, secret(3), secret(4))
	plain, _ := New(Options{Info: "fuzz"}, secret(3), secret(4))
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []*Keys{kid, plain} {
			if p, err := k.Open(nil, s); err == nil && string(p) != "x" {
				t.Fatalf("%q opened to %q", s, p)
			}
		}
	})
}

// lowBitSet spells s with the lowest bit of its last character flipped:
// the same bytes spelled another way when that bit is unused (a canonical
// encoding leaves it 0), other bytes when it is not.
func lowBitSet(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[i^1])
}
