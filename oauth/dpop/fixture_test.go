package dpop

import (
	"bytes"
	"testing"
	"time"
)

// fixtureNonce was issued by an earlier release (secret 32 bytes of 0x42,
// purpose "https://rs.example/mcp", at 1_800_000_000): the format must not
// change under the nonces clients hold.
const fixtureNonce = "aPjYINxKjWJ3KGmmFp3BRZ4Kgm2Efw9DQB9r14FS-r121fWa"

func TestNonceFixture(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	n, err := NewNonces(NoncesOptions{Secrets: [][]byte{bytes.Repeat([]byte{0x42}, 32)}, Purpose: "https://rs.example/mcp", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Check(fixtureNonce); err != nil {
		t.Fatalf("fixture nonce: %v", err)
	}
	now = now.Add(5 * time.Minute)
	if n.Check(fixtureNonce) == nil {
		t.Fatal("fixture nonce accepted past its expiry")
	}
}
