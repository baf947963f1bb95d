package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

const vaultColumns = `user_key, route, issuer, subject, sealed, expires_at, version, lease_until, created_at, updated_at`

func scanVault(sc interface{ Scan(...any) error }) (storage.VaultGrant, error) {
	var g storage.VaultGrant
	var exp, lease, created, updated int64
	err := sc.Scan(&g.User, &g.Route, &g.Issuer, &g.Subject, &g.Sealed, &exp, &g.Version, &lease, &created, &updated)
	g.ExpiresAt, g.LeaseUntil, g.CreatedAt, g.UpdatedAt = tm(exp), tm(lease), tm(created), tm(updated)
	return g, err
}

// VaultGrant implements storage.VaultStore.
func (s *Store) VaultGrant(ctx context.Context, user, route string) (storage.VaultGrant, error) {
	g, err := scanVault(s.queryRow(ctx, s.read, `SELECT `+vaultColumns+` FROM vault_grants WHERE user_key = $1 AND route = $2`, user, route))
	return g, s.wrap("read vault grant", err)
}

// PutVaultGrant implements storage.VaultStore.
func (s *Store) PutVaultGrant(ctx context.Context, g storage.VaultGrant, prev int64) (int64, error) {
	if g.Sealed == nil {
		g.Sealed = []byte{}
	}
	var version int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur int64
		var created int64
		err := s.txQueryRow(ctx, tx, `SELECT version, created_at FROM vault_grants WHERE user_key = $1 AND route = $2`+s.d.ForUpdate,
			g.User, g.Route).Scan(&cur, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if prev != 0 {
				return err // wrapped as storage.ErrNotFound
			}
			version = 1
			_, err = s.txExec(ctx, tx, `INSERT INTO vault_grants (`+vaultColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)`,
				g.User, g.Route, g.Issuer, g.Subject, g.Sealed, ms(g.ExpiresAt), version, ms(g.CreatedAt), ms(g.UpdatedAt))
			return err
		case err != nil:
			return err
		case prev != 0 && cur != prev:
			return storage.ErrConflict
		}
		version = cur + 1
		if prev == 0 {
			created = ms(g.CreatedAt) // a new connection replaces the old one
		}
		_, err = s.txExec(ctx, tx, `UPDATE vault_grants SET issuer = $3, subject = $4, sealed = $5, expires_at = $6, version = $7,
			lease_until = 0, created_at = $8, updated_at = $9 WHERE user_key = $1 AND route = $2`,
			g.User, g.Route, g.Issuer, g.Subject, g.Sealed, ms(g.ExpiresAt), version, created, ms(g.UpdatedAt))
		return err
	}, nil)
	if errors.Is(err, storage.ErrConflict) {
		return 0, storage.ErrConflict
	}
	return version, s.wrap("write vault grant", err)
}

// LeaseVaultGrant implements storage.VaultStore. The conditional update
// is the arbiter: of two replicas, one changes the row.
func (s *Store) LeaseVaultGrant(ctx context.Context, user, route string, version int64, now, until time.Time) (bool, error) {
	n, err := affected(s.exec(ctx, s.write, `UPDATE vault_grants SET lease_until = $4
		WHERE user_key = $1 AND route = $2 AND version = $3 AND lease_until <= $5`, user, route, version, ms(until), ms(now)))
	return n > 0, s.wrap("lease vault grant", err)
}

// DeleteVaultGrant implements storage.VaultStore.
func (s *Store) DeleteVaultGrant(ctx context.Context, user, route string) error {
	return s.wrap("delete vault grant", mustAffect(s.exec(ctx, s.write, `DELETE FROM vault_grants WHERE user_key = $1 AND route = $2`, user, route)))
}

// VaultGrants implements storage.VaultStore.
func (s *Store) VaultGrants(ctx context.Context, subject, route string) ([]storage.VaultGrant, error) {
	rows, err := s.query(ctx, s.read, `SELECT `+vaultColumns+` FROM vault_grants
		WHERE ($1 = '' OR subject = $1 OR user_key = $1) AND ($2 = '' OR route = $2) ORDER BY route, user_key`, subject, route)
	if err != nil {
		return nil, s.wrap("list vault grants", err)
	}
	defer rows.Close()
	var out []storage.VaultGrant
	for rows.Next() {
		g, err := scanVault(rows)
		if err != nil {
			return nil, s.wrap("list vault grants", err)
		}
		out = append(out, g)
	}
	return out, s.wrap("list vault grants", rows.Err())
}
