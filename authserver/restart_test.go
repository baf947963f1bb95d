package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// TestRestart: a second server on the same store and key-encryption key
// (a restart, or another replica) honours everything the first issued:
// access tokens verify with the same keys, refresh tokens rotate, the
// browser session and a pending sign-in continue.
func TestRestart(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	tok := e.login(b)
	_, c := pkce()
	resp, _ := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	resp.Body.Close() // the session is remembered: straight to the code

	srv2, err := New(t.Context(), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = srv2
	e.srv = srv2
	if _, err := srv2.verifyAccessToken(t.Context(), tok.str("access_token")); err != nil {
		t.Errorf("access token lost on restart: %v", err)
	}
	r := e.call(tokenCall{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.str("refresh_token")}, "client_id": {publicClient}}})
	if r.status != 200 {
		t.Errorf("refresh token lost on restart: %s", r.raw)
	}
	resp, err = b.Get(e.url(srv2.endpoints.authorize) + "?" + authzParams(c).Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Errorf("browser session lost on restart: %d", resp.StatusCode)
	}
	// A server with another key-encryption key cannot open the keys.
	other := e.opts
	other.KeyEncryptionKey = make([]byte, 32)
	if _, err := New(t.Context(), other); err == nil {
		t.Error("server started with the wrong key-encryption key")
	}
	// Replacing the key-encryption key, with the old one as previous,
	// keeps tokens, sessions and pending sign-ins.
	other.PreviousKeyEncryptionKeys = [][]byte{e.opts.KeyEncryptionKey}
	srv3, err := New(t.Context(), other)
	if err != nil {
		t.Fatalf("rotated key-encryption key: %v", err)
	}
	e.ts.Config.Handler = srv3
	e.srv = srv3
	if _, err := srv3.verifyAccessToken(t.Context(), tok.str("access_token")); err != nil {
		t.Errorf("access token lost with the key-encryption key rotation: %v", err)
	}
	resp, _ = b.Get(e.url(srv3.endpoints.authorize) + "?" + authzParams(c).Encode())
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("session lost with the key-encryption key rotation: %d", resp.StatusCode)
	}
}

// TestSweep removes what has expired and keeps the rest.
func TestSweep(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.RefreshTokenLifetime = 2 * time.Hour })
	tok := e.login(e.browser())
	fam, _, err := e.store.GetFamilyByToken(t.Context(), hashSecret(tok.str("refresh_token")))
	if err != nil {
		t.Fatal(err)
	}
	e.call(tokenCall{path: e.srv.endpoints.revoke, form: url.Values{"token": {tok.str("access_token")}, "client_id": {publicClient}}})
	if err := e.srv.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetFamily(t.Context(), fam.ID); err != nil {
		t.Errorf("live family swept: %v", err)
	}
	if denied, _ := e.store.AccessTokenDenied(t.Context(), firstJTI(t, e, tok.str("access_token"))); !denied {
		t.Error("live denial swept")
	}
	e.clock.Advance(3 * time.Hour)
	if err := e.srv.Sweep(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetFamily(t.Context(), fam.ID); err != storage.ErrNotFound {
		t.Errorf("expired family kept: %v", err)
	}
	if n, _ := e.store.DeleteExpiredCodes(t.Context(), e.clock.Now()); n != 0 {
		t.Errorf("%d expired codes left after the sweep", n)
	}
	if denied, _ := e.store.AccessTokenDenied(t.Context(), firstJTI(t, e, tok.str("access_token"))); denied {
		t.Error("expired denial kept")
	}
}

func firstJTI(t *testing.T, e *env, token string) string {
	t.Helper()
	payload, err := e.srv.keys.Verify(token, "at+jwt")
	if err != nil {
		t.Fatal(err)
	}
	var c accessClaims
	if err := decodeClaims(payload, &c); err != nil {
		t.Fatal(err)
	}
	return c.Jti
}

// TestLiveKEKRotation: a key-encryption key replaced while the server
// runs (SetKeyEncryptionKeys) keeps the browser sessions and tokens the
// old key sealed while the old key is kept as previous, seals new ones
// with the new key, and drops the old ones once the old key is gone.
func TestLiveKEKRotation(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	tok := e.login(b)
	oldK := e.opts.KeyEncryptionKey
	newK := make([]byte, 32)
	newK[0] = 7
	if err := e.srv.SetKeyEncryptionKeys(newK, [][]byte{make([]byte, 5)}); err == nil {
		t.Fatal("malformed previous key accepted")
	}
	if err := e.srv.SetKeyEncryptionKeys(newK, [][]byte{oldK}); err != nil {
		t.Fatal(err)
	}
	_, c := pkce()
	authorized := func() bool {
		t.Helper()
		resp, err := b.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusFound && strings.Contains(resp.Header.Get("Location"), "code=")
	}
	if !authorized() {
		t.Fatal("browser session sealed with the old key lost while the old key is previous")
	}
	if _, err := e.srv.verifyAccessToken(t.Context(), tok.str("access_token")); err != nil {
		t.Errorf("access token lost with the rotation: %v", err)
	}
	// A session started after the rotation is sealed with the new key:
	// it survives dropping the old key; the old session does not.
	b2 := e.browser()
	e.login(b2)
	if err := e.srv.SetKeyEncryptionKeys(newK, nil); err != nil {
		t.Fatal(err)
	}
	if authorized() {
		t.Error("a session sealed with a dropped key-encryption key still opens")
	}
	resp, err := b2.Get(e.url(e.srv.endpoints.authorize) + "?" + authzParams(c).Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
		t.Errorf("a session sealed after the rotation does not open with the new key: %d", resp.StatusCode)
	}
}
