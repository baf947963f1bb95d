package dpop

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestNonces(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	oldS, newS := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	old, err := NewNonces(NoncesOptions{Secrets: [][]byte{oldS}, Purpose: "https://rs.example/mcp", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rotated, _ := NewNonces(NoncesOptions{Secrets: [][]byte{newS, oldS}, Purpose: "https://rs.example/mcp", Now: clock})
	other, _ := NewNonces(NoncesOptions{Secrets: [][]byte{oldS}, Purpose: "https://other.example/mcp", Now: clock})
	n, err := old.Issue()
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Check(n); err != nil {
		t.Fatalf("own nonce refused: %v", err)
	}
	if err := rotated.Check(n); err != nil {
		t.Errorf("a nonce sealed with the previous secret is refused after rotation: %v", err)
	}
	if n2, _ := rotated.Issue(); old.Check(n2) == nil {
		t.Error("a nonce sealed with a secret the server does not have was accepted")
	}
	if other.Check(n) == nil {
		t.Error("a nonce of another purpose was accepted")
	}
	for _, bad := range []string{"", "x", n[:len(n)-1] + "A", strings.Repeat("A", 200), n + "=", "!!" + n[2:]} {
		if old.Check(bad) == nil {
			t.Errorf("Check(%q) accepted", bad)
		}
	}
	now = now.Add(5 * time.Minute)
	if old.Check(n) == nil {
		t.Error("an expired nonce was accepted")
	}
	if _, err := NewNonces(NoncesOptions{Secrets: [][]byte{[]byte("short")}}); err == nil {
		t.Error("a short secret was accepted")
	}
}

func FuzzNonceCheck(f *testing.F) {
	n, _ := NewNonces(NoncesOptions{Secrets: [][]byte{bytes.Repeat([]byte{7}, 32)}})
	good, _ := n.Issue()
	f.Add(good)
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		// Only sealed nonces open: 12 bytes of IV, 8 of expiry, 16 of tag.
		if n.Check(s) == nil && len(s) != 48 {
			t.Fatalf("accepted something that is not a sealed nonce: %q", s)
		}
	})
}

// TestNoncesReplace: secrets swapped while the nonces serve take effect
// at once: the new first secret seals, a kept older one still opens,
// a dropped one no longer does, and a bad list changes nothing.
func TestNoncesReplace(t *testing.T) {
	oldS, newS := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	n, err := NewNonces(NoncesOptions{Secrets: [][]byte{oldS}})
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, _ := NewNonces(NoncesOptions{Secrets: [][]byte{newS}})
	before, _ := n.Issue()
	if err := n.Replace(newS, oldS); err != nil {
		t.Fatal(err)
	}
	if err := n.Check(before); err != nil {
		t.Errorf("a nonce of the kept secret is refused: %v", err)
	}
	after, _ := n.Issue()
	if err := onlyNew.Check(after); err != nil {
		t.Errorf("not sealed with the new secret: %v", err)
	}
	for _, bad := range [][][]byte{nil, {[]byte("short")}} {
		if n.Replace(bad...) == nil {
			t.Errorf("Replace(%q) accepted", bad)
		}
	}
	if err := n.Check(before); err != nil {
		t.Errorf("a refused Replace changed the secrets: %v", err)
	}
	if err := n.Replace(newS); err != nil {
		t.Fatal(err)
	}
	if n.Check(before) == nil {
		t.Error("a nonce of a dropped secret is accepted")
	}
}

// TestNonceOneSpelling: a nonce spelled another way (a line break inside
// it, set trailing bits) is refused; FuzzNonceCheck found the first.
func TestNonceOneSpelling(t *testing.T) {
	n, _ := NewNonces(NoncesOptions{Secrets: [][]byte{bytes.Repeat([]byte{7}, 32)}})
	good, err := n.Issue()
	if err != nil || n.Check(good) != nil {
		t.Fatalf("issued %q: %v, check %v", good, err, n.Check(good))
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, good[len(good)-1])
	for name, s := range map[string]string{
		"CR":           good[:26] + "\r" + good[26:],
		"CRLF at end":  good + "\r\n",
		"LF":           good[:3] + "\n" + good[3:],
		"last bit set": good[:len(good)-1] + string(alphabet[last^1]),
	} {
		if n.Check(s) == nil {
			t.Errorf("%s: %q accepted", name, s)
		}
	}
}
