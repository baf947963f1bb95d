package credentials

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestTokenExchangeDrop: the upstream token exchanged for a subject token
// is reused until the subject token is revoked; then it is dropped, and
// only it.
func TestTokenExchangeDrop(t *testing.T) {
	var n atomic.Int64
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != GrantTypeTokenExchange {
			http.Error(w, `{"error":"invalid_request"}`, 400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"upstream-%d","token_type":"Bearer","expires_in":600,"issued_token_type":%q}`, n.Add(1), TokenTypeAccessToken)
	}))
	defer as.Close()
	x, err := NewTokenExchange(TokenExchangeOptions{TokenURL: as.URL, ClientID: "gw", ClientSecret: "s", Resource: "https://up.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alice := Owner{Issuer: "https://as.example.com", TokenID: "jti-a", GrantID: "fam-a", Subject: "alice", ClientID: "app"}
	bob := Owner{Issuer: "https://as.example.com", TokenID: "jti-b", GrantID: "fam-b", Subject: "bob", ClientID: "app"}
	get := func(subject string, o Owner) string {
		t.Helper()
		tok, err := x.TokenFor(ctx, subject, o)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	a1, b1 := get("token-a", alice), get("token-b", bob)
	if a2 := get("token-a", alice); a2 != a1 {
		t.Fatalf("not reused: %s then %s", a1, a2)
	}
	if got := x.Drop(func(o Owner) bool { return o.GrantID == "fam-a" }); got != 1 || x.Len() != 1 {
		t.Fatalf("Drop = %d, Len = %d; want 1, 1", got, x.Len())
	}
	if a3 := get("token-a", alice); a3 == a1 {
		t.Error("the upstream token of a revoked subject token is still served from the cache")
	}
	if b2 := get("token-b", bob); b2 != b1 {
		t.Errorf("an unrelated exchange was dropped: %s then %s", b1, b2)
	}
}
