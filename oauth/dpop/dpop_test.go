package dpop

import (
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestDPoPHTU(t *testing.T) {
	for _, c := range []struct {
		claim, want string
		ok          bool
	}{
		{"https://RS.example/mcp", "https://rs.example/mcp", true},
		{"https://rs.example:443/mcp/", "https://rs.example/mcp", true},
		{"https://rs.example/mcp?q=1#f", "https://rs.example/mcp", true},
		{"http://rs.example/mcp", "https://rs.example/mcp", false},
		{"https://rs.example/mcp2", "https://rs.example/mcp", false},
		{"https://evil.example/mcp", "https://rs.example/mcp", false},
		{"/mcp", "https://rs.example/mcp", false},
		{"https://u@rs.example/mcp", "https://rs.example/mcp", false},
	} {
		if got := sameHTU(c.claim, c.want); got != c.ok {
			t.Errorf("sameHTU(%q, %q) = %v", c.claim, c.want, got)
		}
	}
}

func FuzzDPoPProof(f *testing.F) {
	k, err := resourceservertest.NewDPoPKey()
	if err != nil {
		f.Fatal(err)
	}
	good, _ := k.Proof(resourceservertest.Proof{Method: "POST", URL: "https://rs.example/mcp", AccessToken: "t"})
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(b64(`{"typ":"dpop+jwt","alg":"none"}`) + "." + b64(`{}`) + ".")
	f.Add(good[:len(good)-4])
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s, nil)
		if err != nil {
			return
		}
		if p.JKT == "" || p.JTI == "" || p.HTM == "" || p.HTU == "" {
			t.Fatalf("accepted proof lacks members: %+v", p)
		}
		_ = p.Check(t.Context(), Check{Method: "POST", URL: "https://rs.example/mcp", Now: time.Now(), Replay: &MemoryReplayCache{}})
	})
}

// BenchmarkDPoPProof is the per-request cost of a proof: parse, verify the
// ES256 signature, thumbprint, and the request checks.
func BenchmarkDPoPProof(b *testing.B) {
	k, err := resourceservertest.NewDPoPKey()
	if err != nil {
		b.Fatal(err)
	}
	p, _ := k.Proof(resourceservertest.Proof{Method: "POST", URL: "https://rs.example/mcp", AccessToken: "t"})
	replay := &MemoryReplayCache{}
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		proof, err := Parse(p, nil)
		if err != nil {
			b.Fatal(err)
		}
		proof.JTI = strconv.Itoa(i)
		if err := proof.Check(b.Context(), Check{Method: "POST", URL: "https://rs.example/mcp", AccessToken: "t", JKT: k.JKT, Now: now, Replay: replay}); err != nil {
			b.Fatal(err)
		}
	}
}
