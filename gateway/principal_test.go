package gateway

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestPrincipalKeys: a principal's keys are sealed into session ids and
// name users to upstreams, so they must never change: SHA-256 of each
// field length-prefixed (8 bytes, big-endian), first 16 bytes. Hashing
// them allocates nothing.
func TestPrincipalKeys(t *testing.T) {
	p := &Principal{Issuer: "https://issuer.example", Subject: "user-1", ClientID: "client-1"}
	if k := p.key(); hex.EncodeToString(k[:]) != "5617a6fc4728dc39cd3ef3f8d818bea9" {
		t.Errorf("key = %x", k)
	}
	if (&Principal{}).key() != ([16]byte{}) || (*Principal)(nil).userKey() != ([16]byte{}) {
		t.Error("an anonymous principal's keys are not zero")
	}
	// Fields longer than the stack buffer hash the same way.
	long := strings.Repeat("x", 300)
	a, b := hashFields(long, "y"), hashFields(long+"y")
	if a == b || a == ([16]byte{}) {
		t.Errorf("length prefixes do not separate fields: %x %x", a, b)
	}
	if n := testing.AllocsPerRun(100, func() { p.key(); p.userKey() }); n != 0 {
		t.Errorf("hashing a principal's keys: %v allocations, want 0", n)
	}
}
