package resourceservertest_test

import (
	"context"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/resourceserver"
	"github.com/mcpfort/mcpfort/resourceserver/resourceservertest"
)

func TestIssuer(t *testing.T) {
	iss, err := resourceservertest.NewIssuer(resourceservertest.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	const aud = "https://mcp.example.com/mcp"
	v, err := resourceserver.NewJWTVerifier(resourceserver.JWTOptions{Issuer: iss.URL, Audiences: []string{aud}})
	if err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			tok, err := iss.Sign(resourceservertest.Token{Subject: "alice", Audience: []string{aud}, Scopes: []string{"mcp:tools"}, Algorithm: alg})
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), tok)
			if err != nil {
				t.Fatal(err)
			}
			if p.Subject != "alice" || p.Issuer != iss.URL || !p.HasScope("mcp:tools:read") {
				t.Errorf("principal %+v", p)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		tok, err := iss.Sign(resourceservertest.Token{Audience: []string{aud}, Lifetime: -time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), tok); err == nil {
			t.Error("expired token accepted")
		}
	})
}
