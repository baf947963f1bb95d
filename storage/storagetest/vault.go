package storagetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// VaultOpener returns a new, empty vault store for one test, and a
// function that opens the same database again: a restart, or another
// replica.
type VaultOpener func(t *testing.T) (s storage.VaultStore, again func() storage.VaultStore)

// RunVault runs the token vault store's conformance suite.
func RunVault(t *testing.T, open VaultOpener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.VaultStore, again func() storage.VaultStore)
	}{
		{"PutAndRead", testVaultPut},
		{"Versions", testVaultVersions},
		{"Lease", testVaultLease},
		{"LeaseRace", testVaultLeaseRace},
		{"DeleteAndList", testVaultDeleteList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, again := open(t)
			tt.fn(t, s, again)
		})
	}
}

func vaultGrant(user, route string, sealed byte) storage.VaultGrant {
	return storage.VaultGrant{User: user, Route: route, Issuer: "https://as.example", Subject: "sub-" + user,
		Sealed: []byte{sealed, 0, 0xff}, ExpiresAt: t0.Add(time.Hour), CreatedAt: t0, UpdatedAt: t0}
}

func testVaultPut(t *testing.T, s storage.VaultStore, again func() storage.VaultStore) {
	ctx := context.Background()
	if _, err := s.VaultGrant(ctx, "alice", "files"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	g := vaultGrant("alice", "files", 1)
	v, err := s.PutVaultGrant(ctx, g, 0)
	must(t, err)
	if v != 1 {
		t.Fatalf("first version %d", v)
	}
	got, err := again().VaultGrant(ctx, "alice", "files")
	must(t, err)
	g.Version = 1
	diff(t, g, got)
	// Another user's or another route's grant is another grant.
	if _, err := s.VaultGrant(ctx, "bob", "files"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("bob: %v", err)
	}
	if _, err := s.VaultGrant(ctx, "alice", "mail"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other route: %v", err)
	}
	// A new connection replaces the old one whatever its version.
	h := vaultGrant("alice", "files", 2)
	h.CreatedAt = t0.Add(time.Minute)
	v, err = s.PutVaultGrant(ctx, h, 0)
	must(t, err)
	got, err = s.VaultGrant(ctx, "alice", "files")
	must(t, err)
	h.Version = v
	diff(t, h, got)
}

func testVaultVersions(t *testing.T, s storage.VaultStore, _ func() storage.VaultStore) {
	ctx := context.Background()
	if _, err := s.PutVaultGrant(ctx, vaultGrant("alice", "files", 1), 1); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("replacing a missing grant: %v", err)
	}
	v1, err := s.PutVaultGrant(ctx, vaultGrant("alice", "files", 1), 0)
	must(t, err)
	g := vaultGrant("alice", "files", 2)
	g.CreatedAt = t0.Add(time.Hour) // a refresh keeps the creation time
	g.UpdatedAt = t0.Add(time.Minute)
	v2, err := s.PutVaultGrant(ctx, g, v1)
	must(t, err)
	if v2 != v1+1 {
		t.Fatalf("versions %d then %d", v1, v2)
	}
	got, err := s.VaultGrant(ctx, "alice", "files")
	must(t, err)
	if got.Sealed[0] != 2 || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after refresh: %+v", got)
	}
	// A writer holding the old version loses.
	if _, err := s.PutVaultGrant(ctx, vaultGrant("alice", "files", 3), v1); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("stale version: %v", err)
	}
	got, _ = s.VaultGrant(ctx, "alice", "files")
	if got.Sealed[0] != 2 {
		t.Fatalf("stale write changed the grant: %+v", got)
	}
}

func testVaultLease(t *testing.T, s storage.VaultStore, _ func() storage.VaultStore) {
	ctx := context.Background()
	v, err := s.PutVaultGrant(ctx, vaultGrant("alice", "files", 1), 0)
	must(t, err)
	ok, err := s.LeaseVaultGrant(ctx, "alice", "files", v, t0, t0.Add(30*time.Second))
	must(t, err)
	if !ok {
		t.Fatal("first lease refused")
	}
	if ok, _ := s.LeaseVaultGrant(ctx, "alice", "files", v, t0.Add(time.Second), t0.Add(time.Minute)); ok {
		t.Fatal("second lease while the first runs")
	}
	if ok, _ := s.LeaseVaultGrant(ctx, "alice", "files", v+1, t0.Add(time.Minute), t0.Add(2*time.Minute)); ok {
		t.Fatal("lease of a version that is not stored")
	}
	// An expired lease can be taken over (its holder died).
	if ok, _ := s.LeaseVaultGrant(ctx, "alice", "files", v, t0.Add(time.Minute), t0.Add(2*time.Minute)); !ok {
		t.Fatal("expired lease not taken over")
	}
	// Writing the refreshed grant clears the lease.
	v2, err := s.PutVaultGrant(ctx, vaultGrant("alice", "files", 2), v)
	must(t, err)
	got, _ := s.VaultGrant(ctx, "alice", "files")
	if !got.LeaseUntil.IsZero() {
		t.Fatalf("lease kept: %v", got.LeaseUntil)
	}
	if ok, _ := s.LeaseVaultGrant(ctx, "alice", "files", v2, t0.Add(time.Minute), t0.Add(2*time.Minute)); !ok {
		t.Fatal("lease of the new version refused")
	}
	if ok, _ := s.LeaseVaultGrant(ctx, "nobody", "files", 1, t0, t0.Add(time.Minute)); ok {
		t.Fatal("lease of a missing grant")
	}
}

func testVaultLeaseRace(t *testing.T, s storage.VaultStore, again func() storage.VaultStore) {
	ctx := context.Background()
	v, err := s.PutVaultGrant(ctx, vaultGrant("alice", "files", 1), 0)
	must(t, err)
	stores := []storage.VaultStore{s, again()}
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := stores[i%2].LeaseVaultGrant(ctx, "alice", "files", v, t0, t0.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d leases granted at once", won.Load())
	}
}

func testVaultDeleteList(t *testing.T, s storage.VaultStore, _ func() storage.VaultStore) {
	ctx := context.Background()
	for _, g := range []storage.VaultGrant{vaultGrant("bob", "mail", 1), vaultGrant("alice", "mail", 2), vaultGrant("alice", "files", 3)} {
		_, err := s.PutVaultGrant(ctx, g, 0)
		must(t, err)
	}
	names := func(subject, route string) []string {
		gs, err := s.VaultGrants(ctx, subject, route)
		must(t, err)
		var out []string
		for _, g := range gs {
			out = append(out, g.Route+"/"+g.User)
		}
		return out
	}
	diff(t, []string{"files/alice", "mail/alice", "mail/bob"}, names("", ""))
	diff(t, []string{"files/alice", "mail/alice"}, names("sub-alice", ""))
	diff(t, []string{"files/alice", "mail/alice"}, names("alice", "")) // by user key too
	diff(t, []string{"mail/alice", "mail/bob"}, names("", "mail"))
	diff(t, []string{"mail/bob"}, names("sub-bob", "mail"))
	diff(t, []string(nil), names("sub-carol", ""))
	must(t, s.DeleteVaultGrant(ctx, "alice", "mail"))
	if err := s.DeleteVaultGrant(ctx, "alice", "mail"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	diff(t, []string{"files/alice", "mail/bob"}, names("", ""))
}
