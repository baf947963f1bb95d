package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mcpfort/mcpfort/oauth"
	"github.com/mcpfort/mcpfort/storage"
)

// Opener returns a new, empty store for one test, and a function that
// opens the same database again (to check that data survives a restart).
// The suite closes what it opens.
type Opener func(t *testing.T) (s storage.Store, reopen func() storage.Store)

// Run runs the conformance suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"Clients", testClients},
		{"StaleClients", testStaleClients},
		{"Users", testUsers},
		{"Consents", testConsents},
		{"Codes", testCodes},
		{"CodeRace", testCodeRace},
		{"Refresh", testRefresh},
		{"RefreshRace", testRefreshRace},
		{"RevokeFamilies", testRevokeFamilies},
		{"Tokens", testTokens},
		{"Keys", testKeys},
		{"CIMD", testCIMD},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := open(t)
			defer s.Close()
			tt.fn(t, s)
		})
	}
	t.Run("Restart", func(t *testing.T) { testRestart(t, open) })
}

// t0 is millisecond-aligned, as stored times are.
var t0 = time.Date(2026, 7, 28, 12, 0, 0, 0, time.UTC)

func hash(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func diff(t *testing.T, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("mismatch (-want +got):\n%s", d)
	}
}

func testClients(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := &storage.Client{
		ID: "c1", Source: storage.ClientDynamic, SecretHash: hash("secret"), RegistrationTokenHash: hash("rat"),
		Metadata: oauth.ClientMetadata{
			ClientName: "Client One", RedirectURIs: []string{"https://a.example/cb", "http://127.0.0.1/cb"},
			TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code"},
			JWKS: []byte(`{"keys":[]}`),
		},
		CreatedAt: t0, UpdatedAt: t0,
	}
	must(t, s.CreateClient(ctx, c))
	wantErr(t, s.CreateClient(ctx, c), storage.ErrConflict)
	got, err := s.GetClient(ctx, "c1")
	must(t, err)
	diff(t, c, got)
	_, err = s.GetClient(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)

	c.Metadata.ClientName = "Renamed"
	c.SecretHash = nil
	c.UpdatedAt = t0.Add(time.Minute)
	c.SecretExpiresAt = t0.Add(time.Hour)
	must(t, s.UpdateClient(ctx, c))
	got, err = s.GetClient(ctx, "c1")
	must(t, err)
	diff(t, c, got)
	wantErr(t, s.UpdateClient(ctx, &storage.Client{ID: "nope"}), storage.ErrNotFound)

	must(t, s.TouchClient(ctx, "c1", t0.Add(time.Hour), time.Minute))
	must(t, s.TouchClient(ctx, "c1", t0.Add(time.Hour+time.Second), time.Minute)) // within granularity: no write
	got, err = s.GetClient(ctx, "c1")
	must(t, err)
	if !got.LastUsedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("LastUsedAt = %v", got.LastUsedAt)
	}
	must(t, s.DeleteClient(ctx, "c1"))
	wantErr(t, s.DeleteClient(ctx, "c1"), storage.ErrNotFound)
}

func testStaleClients(t *testing.T, s storage.Store) {
	ctx := context.Background()
	mk := func(id, source string, created, used time.Time) {
		must(t, s.CreateClient(ctx, &storage.Client{ID: id, Source: source, CreatedAt: created, UpdatedAt: created, LastUsedAt: used}))
	}
	day := 24 * time.Hour
	mk("old-unused", storage.ClientDynamic, t0.Add(-3*day), time.Time{})
	mk("new-unused", storage.ClientDynamic, t0, time.Time{})
	mk("old-idle", storage.ClientDynamic, t0.Add(-100*day), t0.Add(-95*day))
	mk("old-active", storage.ClientDynamic, t0.Add(-100*day), t0.Add(-day))
	mk("static", storage.ClientStatic, t0.Add(-100*day), time.Time{})
	n, err := s.DeleteStaleClients(ctx, t0.Add(-day), t0.Add(-90*day))
	must(t, err)
	if n != 2 {
		t.Errorf("deleted %d, want 2", n)
	}
	for id, exists := range map[string]bool{"old-unused": false, "new-unused": true, "old-idle": false, "old-active": true, "static": true} {
		_, err := s.GetClient(ctx, id)
		if (err == nil) != exists {
			t.Errorf("%s: exists=%v err=%v", id, exists, err)
		}
	}
}

func testUsers(t *testing.T, s storage.Store) {
	ctx := context.Background()
	alice := &storage.User{ID: "u1", Username: "alice", PasswordHash: "$argon2id$x", Email: "a@example.com", Name: "Alice", CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateUser(ctx, alice))
	wantErr(t, s.CreateUser(ctx, &storage.User{ID: "u2", Username: "alice", CreatedAt: t0, UpdatedAt: t0}), storage.ErrConflict)
	fed := &storage.User{ID: "u3", Issuer: "https://idp.example", Subject: "248289761001", Email: "b@example.com", Groups: []string{"staff"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateUser(ctx, fed))
	// Several federated users have no username: the unique index allows it.
	must(t, s.CreateUser(ctx, &storage.User{ID: "u4", Issuer: "https://idp.example", Subject: "other", CreatedAt: t0, UpdatedAt: t0}))
	wantErr(t, s.CreateUser(ctx, &storage.User{ID: "u5", Issuer: "https://idp.example", Subject: "248289761001", CreatedAt: t0, UpdatedAt: t0}), storage.ErrConflict)

	got, err := s.GetUserByUsername(ctx, "alice")
	must(t, err)
	diff(t, alice, got)
	got, err = s.GetUserBySubject(ctx, "https://idp.example", "248289761001")
	must(t, err)
	diff(t, fed, got)
	_, err = s.GetUserByUsername(ctx, "bob")
	wantErr(t, err, storage.ErrNotFound)
	_, err = s.GetUser(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)

	alice.Disabled = true
	alice.PasswordHash = "$argon2id$y"
	alice.Groups = []string{"admins", "eng"}
	alice.UpdatedAt = t0.Add(time.Hour)
	must(t, s.UpdateUser(ctx, alice))
	got, err = s.GetUser(ctx, "u1")
	must(t, err)
	diff(t, alice, got)

	page, err := s.ListUsers(ctx, "", 2)
	must(t, err)
	if len(page) != 2 || page[0].ID != "u1" || page[1].ID != "u3" {
		t.Fatalf("first page %v", page)
	}
	page, err = s.ListUsers(ctx, page[1].ID, 2)
	must(t, err)
	if len(page) != 1 || page[0].ID != "u4" {
		t.Fatalf("second page %v", page)
	}
}

func testConsents(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := &storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"a", "b"}, Resources: []string{"https://mcp.example/mcp"},
		RedirectURIs: []string{"http://127.0.0.1:4444/cb"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.PutConsent(ctx, c))
	c2 := &storage.Consent{UserID: "u1", ClientID: "c0", Scopes: []string{"a"}, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.PutConsent(ctx, c2))
	c.Scopes = []string{"a", "b", "c"}
	c.UpdatedAt = t0.Add(time.Minute)
	must(t, s.PutConsent(ctx, c))
	got, err := s.GetConsent(ctx, "u1", "c1")
	must(t, err)
	diff(t, c, got)
	list, err := s.ListConsents(ctx, "u1")
	must(t, err)
	diff(t, []*storage.Consent{c2, c}, list)
	must(t, s.DeleteConsent(ctx, "u1", "c1"))
	wantErr(t, s.DeleteConsent(ctx, "u1", "c1"), storage.ErrNotFound)
	_, err = s.GetConsent(ctx, "u1", "c1")
	wantErr(t, err, storage.ErrNotFound)
}

func newCode(name string) *storage.AuthCode {
	return &storage.AuthCode{
		Hash: hash(name), ClientID: "c1", UserID: "u1", RedirectURI: "http://127.0.0.1:5555/cb",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Scopes: []string{"mcp"},
		Resources: []string{"https://mcp.example/mcp"}, AuthTime: t0, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute), Nonce: "n-0S6_WzA2Mj",
	}
}

func testCodes(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := newCode("code1")
	must(t, s.CreateCode(ctx, c))
	wantErr(t, s.CreateCode(ctx, c), storage.ErrConflict)
	got, err := s.ConsumeCode(ctx, c.Hash, t0.Add(time.Second))
	must(t, err)
	c.UsedAt = t0.Add(time.Second)
	diff(t, c, got)
	must(t, s.IssueFromCode(ctx, c.Hash, newFamily("fam1", "c1", "from-code"), "jti1", t0.Add(time.Hour)))
	if f, err := s.GetFamily(ctx, "fam1"); err != nil || f.ClientID != "c1" {
		t.Fatalf("family issued from the code: %v %v", f, err)
	}

	got, err = s.ConsumeCode(ctx, c.Hash, t0.Add(2*time.Second))
	wantErr(t, err, storage.ErrAlreadyUsed)
	if got == nil || got.FamilyID != "fam1" || got.AccessTokenID != "jti1" || !got.UsedAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("replayed code = %+v", got)
	}
	_, err = s.ConsumeCode(ctx, hash("unknown"), t0)
	wantErr(t, err, storage.ErrNotFound)

	// A replay between redemption and IssueFromCode makes the issue fail
	// and create nothing, so nothing escapes revocation.
	c2 := newCode("code2")
	must(t, s.CreateCode(ctx, c2))
	_, err = s.ConsumeCode(ctx, c2.Hash, t0)
	must(t, err)
	_, err = s.ConsumeCode(ctx, c2.Hash, t0)
	wantErr(t, err, storage.ErrAlreadyUsed)
	wantErr(t, s.IssueFromCode(ctx, c2.Hash, newFamily("fam2", "c1", "replayed"), "jti2", t0), storage.ErrAlreadyUsed)
	_, err = s.GetFamily(ctx, "fam2")
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, s.IssueFromCode(ctx, hash("unknown"), nil, "j", t0), storage.ErrNotFound)
	c3 := newCode("code3")
	must(t, s.CreateCode(ctx, c3))
	_, err = s.ConsumeCode(ctx, c3.Hash, t0)
	must(t, err)
	must(t, s.IssueFromCode(ctx, c3.Hash, nil, "jti3", t0.Add(time.Hour))) // no refresh token

	n, err := s.DeleteExpiredCodes(ctx, t0.Add(2*time.Minute))
	must(t, err)
	if n != 3 {
		t.Errorf("deleted %d codes", n)
	}
}

// testCodeRace redeems one code from many goroutines: exactly one wins.
func testCodeRace(t *testing.T, s storage.Store) {
	ctx := context.Background()
	c := newCode("race")
	must(t, s.CreateCode(ctx, c))
	const n = 16
	var wg sync.WaitGroup
	results := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := s.ConsumeCode(ctx, c.Hash, t0)
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrAlreadyUsed):
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d redemptions succeeded, want 1", wins)
	}
}

func newFamily(id, client string, tok string) *storage.RefreshFamily {
	return &storage.RefreshFamily{
		ID: id, ClientID: client, UserID: "u1", Scopes: []string{"mcp"}, Resources: []string{"https://mcp.example/mcp"},
		AuthTime: t0, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), CurrentHash: hash(tok), RotatedAt: t0,
		LastAccessTokenID: "at0", LastAccessExpires: t0.Add(time.Hour),
	}
}

func testRefresh(t *testing.T, s storage.Store) {
	ctx := context.Background()
	f := newFamily("f1", "c1", "r0")
	must(t, s.CreateFamily(ctx, f))
	got, err := s.GetFamily(ctx, "f1")
	must(t, err)
	diff(t, f, got)

	rot := func(old, nw string, at time.Time) (*storage.RefreshFamily, error) {
		return s.RotateRefreshToken(ctx, storage.Rotation{OldHash: hash(old), NewHash: hash(nw), ClientID: "c1",
			AccessTokenID: "at-" + nw, AccessExpires: at.Add(time.Hour), At: at})
	}
	got, err = rot("r0", "r1", t0.Add(time.Minute))
	must(t, err)
	if !bytes.Equal(got.CurrentHash, hash("r1")) || got.LastAccessTokenID != "at-r1" {
		t.Fatalf("rotated family %+v", got)
	}
	fam, current, err := s.GetFamilyByToken(ctx, hash("r1"))
	must(t, err)
	if !current || fam.ID != "f1" {
		t.Errorf("r1: current=%v fam=%s", current, fam.ID)
	}
	fam, current, err = s.GetFamilyByToken(ctx, hash("r0"))
	must(t, err)
	if current || fam.ID != "f1" {
		t.Errorf("r0: current=%v", current)
	}
	_, _, err = s.GetFamilyByToken(ctx, hash("nope"))
	wantErr(t, err, storage.ErrNotFound)

	// Another client presenting the token changes nothing.
	_, err = s.RotateRefreshToken(ctx, storage.Rotation{OldHash: hash("r1"), NewHash: hash("x"), ClientID: "evil", At: t0})
	wantErr(t, err, storage.ErrNotFound)
	_, err = rot("unknown", "x", t0)
	wantErr(t, err, storage.ErrNotFound)

	// Reuse of r0 revokes the family, and r1 dies with it.
	got, err = rot("r0", "r2", t0.Add(2*time.Minute))
	wantErr(t, err, storage.ErrReused)
	if got == nil || got.LastAccessTokenID != "at-r1" || !got.RevokedAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("reused family %+v", got)
	}
	_, err = rot("r1", "r3", t0.Add(3*time.Minute))
	wantErr(t, err, storage.ErrRevoked)
	got, err = s.GetFamily(ctx, "f1")
	must(t, err)
	if got.RevokedAt.IsZero() {
		t.Error("family not revoked after reuse")
	}

	// Expiry.
	must(t, s.CreateFamily(ctx, newFamily("f2", "c1", "e0")))
	_, err = rot("e0", "e1", t0.Add(25*time.Hour))
	wantErr(t, err, storage.ErrExpired)
	must(t, s.RevokeFamily(ctx, "f2", t0))
	must(t, s.RevokeFamily(ctx, "f2", t0.Add(time.Hour))) // idempotent, keeps the first time
	got, err = s.GetFamily(ctx, "f2")
	must(t, err)
	if !got.RevokedAt.Equal(t0) {
		t.Errorf("RevokedAt = %v", got.RevokedAt)
	}
	n, err := s.DeleteExpiredFamilies(ctx, t0.Add(48*time.Hour))
	must(t, err)
	if n != 2 {
		t.Errorf("deleted %d families", n)
	}
	_, _, err = s.GetFamilyByToken(ctx, hash("r1"))
	wantErr(t, err, storage.ErrNotFound)
}

// testRefreshRace rotates one token from many goroutines: exactly one
// rotation succeeds and the others find a reused token, revoking the
// family (strict reuse detection, OAuth 2.1 section 4.3.1).
func testRefreshRace(t *testing.T, s storage.Store) {
	ctx := context.Background()
	must(t, s.CreateFamily(ctx, newFamily("race", "c1", "r0")))
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.RotateRefreshToken(ctx, storage.Rotation{OldHash: hash("r0"), NewHash: hash(fmt.Sprint("n", i)), ClientID: "c1", At: t0})
			results <- err
		})
	}
	wg.Wait()
	close(results)
	wins, reused := 0, 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, storage.ErrReused), errors.Is(err, storage.ErrRevoked):
			reused++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if wins != 1 || reused != n-1 {
		t.Errorf("wins=%d reused=%d", wins, reused)
	}
}

func testRevokeFamilies(t *testing.T, s storage.Store) {
	ctx := context.Background()
	must(t, s.CreateFamily(ctx, newFamily("a", "c1", "ta")))
	must(t, s.CreateFamily(ctx, newFamily("b", "c1", "tb")))
	must(t, s.CreateFamily(ctx, newFamily("c", "c2", "tc")))
	got, err := s.RevokeFamilies(ctx, "u1", "c1", t0)
	must(t, err)
	if len(got) != 2 {
		t.Fatalf("revoked %d families", len(got))
	}
	for _, id := range []string{"a", "b"} {
		f, err := s.GetFamily(ctx, id)
		must(t, err)
		if f.RevokedAt.IsZero() {
			t.Errorf("%s not revoked", id)
		}
	}
	f, err := s.GetFamily(ctx, "c")
	must(t, err)
	if !f.RevokedAt.IsZero() {
		t.Error("other client's family revoked")
	}
	got, err = s.RevokeFamilies(ctx, "u1", "c1", t0)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("second revocation returned %d", len(got))
	}
}

func testTokens(t *testing.T, s storage.Store) {
	ctx := context.Background()
	denied, err := s.AccessTokenDenied(ctx, "j1")
	must(t, err)
	if denied {
		t.Fatal("fresh jti denied")
	}
	must(t, s.DenyAccessToken(ctx, "j1", t0.Add(time.Hour)))
	must(t, s.DenyAccessToken(ctx, "j1", t0.Add(time.Hour)))
	denied, err = s.AccessTokenDenied(ctx, "j1")
	must(t, err)
	if !denied {
		t.Fatal("denied jti not reported")
	}
	must(t, s.UseOnce(ctx, "j1", t0.Add(time.Minute))) // separate namespace
	wantErr(t, s.UseOnce(ctx, "j1", t0.Add(time.Minute)), storage.ErrAlreadyUsed)
	n, err := s.DeleteExpiredTokens(ctx, t0.Add(30*time.Minute))
	must(t, err)
	if n != 1 {
		t.Errorf("deleted %d", n)
	}
	must(t, s.UseOnce(ctx, "j1", t0.Add(time.Minute)))
}

func testKeys(t *testing.T, s storage.Store) {
	ctx := context.Background()
	k1 := &storage.SigningKey{ID: "k1", Algorithm: "ES256", Generation: 1, PrivateKeyCiphertext: []byte{1, 2, 3},
		PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: t0, ActiveAt: t0, ExpiresAt: t0.Add(time.Hour)}
	k2 := &storage.SigningKey{ID: "k2", Algorithm: "ES256", Generation: 2, PrivateKeyCiphertext: []byte{4},
		PublicJWK: []byte(`{"kty":"EC"}`), CreatedAt: t0, ActiveAt: t0.Add(time.Minute), ExpiresAt: t0.Add(2 * time.Hour)}
	must(t, s.CreateSigningKey(ctx, k2))
	must(t, s.CreateSigningKey(ctx, k1))
	wantErr(t, s.CreateSigningKey(ctx, &storage.SigningKey{ID: "k3", Algorithm: "ES256", Generation: 2, PublicJWK: []byte(`{}`), PrivateKeyCiphertext: []byte{0}}), storage.ErrConflict)
	got, err := s.ListSigningKeys(ctx)
	must(t, err)
	diff(t, []*storage.SigningKey{k1, k2}, got)
	must(t, s.DeleteSigningKey(ctx, "k1"))
	wantErr(t, s.DeleteSigningKey(ctx, "k1"), storage.ErrNotFound)
}

func testCIMD(t *testing.T, s storage.Store) {
	ctx := context.Background()
	e := &storage.CIMDEntry{URL: "https://c.example/meta.json", Document: []byte(`{"client_id":"https://c.example/meta.json"}`), FetchedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.PutCIMD(ctx, e))
	e.Document = []byte(`{}`)
	e.ExpiresAt = t0.Add(2 * time.Hour)
	must(t, s.PutCIMD(ctx, e))
	got, err := s.GetCIMD(ctx, e.URL)
	must(t, err)
	diff(t, e, got)
	n, err := s.DeleteExpiredCIMD(ctx, t0.Add(3*time.Hour))
	must(t, err)
	if n != 1 {
		t.Errorf("deleted %d", n)
	}
	_, err = s.GetCIMD(ctx, e.URL)
	wantErr(t, err, storage.ErrNotFound)
	must(t, s.DeleteCIMD(ctx, e.URL))
}

func testRestart(t *testing.T, open Opener) {
	ctx := context.Background()
	s, reopen := open(t)
	must(t, s.CreateClient(ctx, &storage.Client{ID: "persist", Source: storage.ClientStatic, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.CreateFamily(ctx, newFamily("pf", "persist", "pr")))
	must(t, s.Close())
	s = reopen()
	defer s.Close()
	if _, err := s.GetClient(ctx, "persist"); err != nil {
		t.Errorf("client lost on restart: %v", err)
	}
	if _, _, err := s.GetFamilyByToken(ctx, hash("pr")); err != nil {
		t.Errorf("refresh family lost on restart: %v", err)
	}
}
