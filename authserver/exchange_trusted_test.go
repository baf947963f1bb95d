package authserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// TestTokenExchangeTrustedIssuer: an access token from another
// authorization server configured as trusted is exchanged for a token of
// this one; tokens of untrusted issuers, with a wrong audience, expired or
// signed by another key are refused.
func TestTokenExchangeTrustedIssuer(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "ext-1", Algorithm: "ES256", Use: "sig"}}})
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer idp.Close()
	const extIssuer = "https://idp.example.com"
	e := newEnv(t, func(o *Options) {
		o.TokenExchange.TrustedIssuers = []TrustedIssuer{{Issuer: extIssuer, JWKSURI: idp.URL + "/jwks", Audience: "https://gateway.example.com"}}
	})
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "ext-1"}}, (&jose.SignerOptions{}).WithType("at+jwt"))
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: otherKey, KeyID: "ext-1"}}, nil)
	now := e.clock.Now()
	type claims struct {
		jwt.Claims
		Scope string `json:"scope"`
	}
	mint := func(s jose.Signer, mod func(*claims)) string {
		c := claims{Claims: jwt.Claims{Issuer: extIssuer, Subject: "ext-user", Audience: jwt.Audience{"https://gateway.example.com"},
			Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)), IssuedAt: jwt.NewNumericDate(now)}, Scope: "mcp:tools other:read"}
		if mod != nil {
			mod(&c)
		}
		tok, err := jwt.Signed(s).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	x := func(subject string) tokenResult {
		return e.call(tokenCall{form: url.Values{"grant_type": {oauth.GrantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {oauth.TokenTypeJWT}, "resource": {resMCP}}, basic: [2]string{gwClient, gwSecret}})
	}
	r := x(mint(signer, nil))
	if r.status != 200 {
		t.Fatalf("exchange: %d %s", r.status, r.raw)
	}
	c, err := e.srv.verifyAccessToken(t.Context(), r.str("access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.Sub, externalSubjectPrefix) || c.Scope != "mcp:tools" || c.Act == nil || c.Act.Sub != gwClient || c.Exp > now.Add(5*time.Minute).Unix() {
		t.Errorf("claims %+v", c)
	}
	// An external subject that equals a local user's ID never acts as
	// that user: subjects are keyed by (issuer, subject).
	r = x(mint(signer, func(c *claims) { c.Subject = e.user.ID }))
	if r.status != 200 {
		t.Fatalf("exchange: %d %s", r.status, r.raw)
	}
	if c, err := e.srv.verifyAccessToken(t.Context(), r.str("access_token")); err != nil || c.Sub == e.user.ID || len(c.Groups) != 0 {
		t.Errorf("external subject %q became the local user: %+v %v", e.user.ID, c, err)
	}
	// An identity federated from that issuer is its local user, and a
	// disabled one is refused.
	fed := &storage.User{ID: "user-fed", Issuer: extIssuer, Subject: "ext-user", CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateUser(t.Context(), fed); err != nil {
		t.Fatal(err)
	}
	r = x(mint(signer, nil))
	if c, err := e.srv.verifyAccessToken(t.Context(), r.str("access_token")); err != nil || c.Sub != fed.ID {
		t.Errorf("federated identity: %d %+v %v", r.status, c, err)
	}
	fed.Disabled = true
	if err := e.store.UpdateUser(t.Context(), fed); err != nil {
		t.Fatal(err)
	}
	if r = x(mint(signer, nil)); r.str("error") != "invalid_grant" {
		t.Errorf("disabled federated user: %d %s", r.status, r.raw)
	}
	for name, subject := range map[string]string{
		"untrusted issuer": mint(signer, func(c *claims) { c.Issuer = "https://evil.example" }),
		"wrong audience":   mint(signer, func(c *claims) { c.Audience = jwt.Audience{"https://other.example"} }),
		"expired":          mint(signer, func(c *claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) }),
		"no expiry":        mint(signer, func(c *claims) { c.Expiry = nil }),
		"other key":        mint(otherSigner, nil),
		"no subject":       mint(signer, func(c *claims) { c.Subject = "" }),
	} {
		t.Run(name, func(t *testing.T) {
			if r := x(subject); r.str("error") != "invalid_grant" {
				t.Errorf("got %d %s", r.status, r.raw)
			}
		})
	}
}
