package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/authserver"
	"github.com/mcpfort/mcpfort/gateway/upstream/credentials"
	"github.com/mcpfort/mcpfort/resourceserver"
)

// TestRevocationDropsExchangedTokens: when the embedded server revokes a
// token, the upstream token the gateway obtained for it by token exchange
// leaves the cache at the same time, and the token itself is refused.
func TestRevocationDropsExchangedTokens(t *testing.T) {
	const iss = "http://127.0.0.1:1"
	r, err := newRevocations(iss, nil, 0, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"upstream","token_type":"Bearer","expires_in":600}`)
	}))
	defer as.Close()
	x, err := credentials.NewTokenExchange(credentials.TokenExchangeOptions{TokenURL: as.URL, ClientID: "gw", Resource: "https://up.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	r.addExchange(x)
	ctx := context.Background()
	now := time.Now()
	p := &resourceserver.Principal{Issuer: iss, Subject: "u1", ClientID: "app", TokenID: "jti-1", IssuedAt: now.Add(-time.Second), Expiry: now.Add(time.Minute)}
	other := &resourceserver.Principal{Issuer: iss, Subject: "u2", ClientID: "app", TokenID: "jti-2", IssuedAt: now.Add(-time.Second), Expiry: now.Add(time.Minute)}
	for tok, pr := range map[string]*resourceserver.Principal{"subject-1": p, "subject-2": other} {
		if _, err := x.TokenFor(ctx, tok, ownerOf(pr)); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Revoke(ctx, authserver.SubjectRevocation("u1", "app", now, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if x.Len() != 1 {
		t.Errorf("cached exchanges after the revocation: %d, want 1 (the other user's)", x.Len())
	}
	if err := r.list.Check(ctx, p); err == nil {
		t.Error("the revoked token is still accepted")
	}
	if err := r.list.Check(ctx, other); err != nil {
		t.Errorf("another user's token is refused: %v", err)
	}
}
