package storage

import (
	"context"
	"time"
)

// VaultGrant is one user's grant at an upstream's authorization server, as
// the token vault keeps it: at most one per user and route. The tokens are
// in Sealed, encrypted by the vault under the key-encryption key with the
// user and route as additional data; the store never sees them in the
// clear.
type VaultGrant struct {
	// User is the gateway's stable key for the user (issuer and subject
	// of the gateway's own tokens); Route is the gateway route.
	User, Route string
	// Issuer and Subject name the user for people (listing, revocation);
	// they are not secrets.
	Issuer, Subject string
	// Sealed holds the access and refresh tokens, sealed.
	Sealed []byte
	// ExpiresAt is when the access token expires (zero: not said).
	ExpiresAt time.Time
	// Version counts the writes of the grant, from 1: a refresh replaces
	// the version it read and no other.
	Version int64
	// LeaseUntil is set while a replica refreshes the tokens (zero when
	// none does).
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// VaultStore keeps the token vault's grants.
type VaultStore interface {
	// VaultGrant reads the grant of user at route, or returns ErrNotFound.
	VaultGrant(ctx context.Context, user, route string) (VaultGrant, error)
	// PutVaultGrant writes g. With prev zero it creates the grant or
	// replaces whatever is there (a new connection); otherwise it replaces
	// only version prev, and returns ErrConflict if the stored grant is
	// another version or ErrNotFound if there is none. The written version
	// is returned; the lease is cleared.
	PutVaultGrant(ctx context.Context, g VaultGrant, prev int64) (int64, error)
	// LeaseVaultGrant takes the refresh lease of version version until
	// until, if no other lease runs at now; it reports whether it did.
	// Of replicas racing for one lease, one gets it.
	LeaseVaultGrant(ctx context.Context, user, route string, version int64, now, until time.Time) (bool, error)
	// DeleteVaultGrant removes the grant of user at route, or returns
	// ErrNotFound.
	DeleteVaultGrant(ctx context.Context, user, route string) error
	// VaultGrants lists the grants whose subject (or user key) and route
	// match; an empty filter matches every one. Ordered by route, then
	// user.
	VaultGrants(ctx context.Context, subject, route string) ([]VaultGrant, error)
}
