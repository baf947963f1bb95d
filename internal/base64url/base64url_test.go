package base64url

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" with ok false: refused
		ok   bool
	}{
		{"", "", true},
		{"aGk", "hi", true},
		{"aGl0", "hit", true},
		{"_-8", "\xff\xef", true},
		{"aGj", "", false},       // trailing bits set ("aGk" is canonical)
		{"aGk=", "", false},      // padding
		{"aG\rk", "", false},     // CR, skipped by encoding/base64
		{"aG\nk", "", false},     // LF
		{"aGk\r\n", "", false},   // trailing line break
		{"a", "", false},         // no whole byte
		{"aG k", "", false},      // space
		{"aG+k", "", false},      // standard alphabet
		{"aG/k", "", false},      // standard alphabet
		{"aGk\x00", "", false},   // NUL
		{"\u00e9aGk", "", false}, // non-ASCII
	} {
		b, err := Decode(tc.in)
		if (err == nil) != tc.ok || tc.ok && string(b) != tc.want {
			t.Errorf("Decode(%q) = %q, %v; want %q ok %v", tc.in, b, err, tc.want, tc.ok)
		}
	}
}

func TestCompactJWS(t *testing.T) {
	good := "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
	if err := CompactJWS(good); err != nil {
		t.Fatalf("%q: %v", good, err)
	}
	if err := CompactJWS("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2k"); err != nil {
		t.Errorf("short last group refused: %v", err)
	}
	if err := CompactJWS("eyJhbGciOiJFUzI1NiJ9..c2ln"); err != nil {
		t.Errorf("detached (empty) payload refused: %v", err)
	}
	for _, bad := range []string{
		"",
		"eyJhbGciOiJFUzI1NiJ9",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln.eA",
		".eyJzdWIiOiJ4In0.c2ln",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2l", // trailing bits: "c2k" spells the same bytes
		"eyJhbGciOiJFUzI1NiJ9\r\n.eyJzdWIiOiJ4In0.c2ln",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIi\nOiJ4In0.c2ln",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2\rln",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0=.c2ln",
		"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c",
		" eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
	} {
		if CompactJWS(bad) == nil {
			t.Errorf("CompactJWS(%q) accepted", bad)
		}
	}
}

// FuzzDecode: Decode accepts exactly the strings that are the encoding of
// what they decode to, and decodes them as encoding/base64 does.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "aGk", "aGj", "aG\rk", "aGk=", "_-8", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Decode(s)
		lax, laxErr := base64.RawURLEncoding.DecodeString(s)
		canonical := laxErr == nil && base64.RawURLEncoding.EncodeToString(lax) == s
		if (err == nil) != canonical {
			t.Fatalf("Decode(%q) err %v, canonical %v", s, err, canonical)
		}
		if err == nil && !bytes.Equal(b, lax) {
			t.Fatalf("Decode(%q) = %x, encoding/base64 %x", s, b, lax)
		}
		// A segment of a compact JWS is checked the same way.
		jws := "eA." + s + ".eA"
		if (CompactJWS(jws) == nil) != (canonical && !strings.Contains(s, ".")) {
			t.Fatalf("CompactJWS(%q) = %v, canonical %v", jws, CompactJWS(jws), canonical)
		}
	})
}
