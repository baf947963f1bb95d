package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// familyColsBare is for RETURNING clauses, where SQLite refuses qualified
// names.
const familyColsBare = `id, client_id, user_id, scopes, resources, auth_time, created_at, expires_at, revoked_at, current_hash, rotated_at, last_access_token_id, last_access_expires`

const familyCols = `f.id, f.client_id, f.user_id, f.scopes, f.resources, f.auth_time, f.created_at, f.expires_at, f.revoked_at, f.current_hash, f.rotated_at, f.last_access_token_id, f.last_access_expires`

func scanFamily(sc scanner) (*storage.RefreshFamily, error) {
	var (
		f                                                   storage.RefreshFamily
		scopes, resources                                   string
		authTime, created, expires, revoked, rotated, accEx int64
	)
	if err := sc.Scan(&f.ID, &f.ClientID, &f.UserID, &scopes, &resources, &authTime, &created, &expires, &revoked,
		&f.CurrentHash, &rotated, &f.LastAccessTokenID, &accEx); err != nil {
		return nil, err
	}
	var err error
	if f.Scopes, err = plist(scopes); err != nil {
		return nil, err
	}
	if f.Resources, err = plist(resources); err != nil {
		return nil, err
	}
	f.AuthTime, f.CreatedAt, f.ExpiresAt, f.RevokedAt, f.RotatedAt, f.LastAccessExpires =
		tm(authTime), tm(created), tm(expires), tm(revoked), tm(rotated), tm(accEx)
	return &f, nil
}

// CreateFamily implements storage.RefreshStore.
func (s *Store) CreateFamily(ctx context.Context, f *storage.RefreshFamily) error {
	return s.tx(ctx, func(tx *sql.Tx) error { return s.insertFamily(ctx, tx, f) }, nil)
}

func (s *Store) insertFamily(ctx context.Context, tx *sql.Tx, f *storage.RefreshFamily) error {
	if _, err := s.txExec(ctx, tx, `INSERT INTO refresh_families (id, client_id, user_id, scopes, resources, auth_time, created_at, expires_at, revoked_at, current_hash, rotated_at, last_access_token_id, last_access_expires)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		f.ID, f.ClientID, f.UserID, jlist(f.Scopes), jlist(f.Resources), ms(f.AuthTime), ms(f.CreatedAt), ms(f.ExpiresAt),
		ms(f.RevokedAt), f.CurrentHash, ms(f.RotatedAt), f.LastAccessTokenID, ms(f.LastAccessExpires)); err != nil {
		return s.wrap("create family", err)
	}
	_, err := s.txExec(ctx, tx, `INSERT INTO refresh_tokens (hash, family_id) VALUES ($1, $2)`, f.CurrentHash, f.ID)
	return s.wrap("create family token", err)
}

// RotateRefreshToken implements storage.RefreshStore.
func (s *Store) RotateRefreshToken(ctx context.Context, r storage.Rotation) (*storage.RefreshFamily, error) {
	var out *storage.RefreshFamily
	err := s.tx(ctx, func(tx *sql.Tx) error {
		f, err := scanFamily(s.txQueryRow(ctx, tx, `SELECT `+familyCols+` FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1`+s.d.ForUpdate, r.OldHash))
		if err != nil {
			return s.wrap("rotate refresh token", err)
		}
		if f.ClientID != r.ClientID {
			return storage.ErrNotFound
		}
		if !f.RevokedAt.IsZero() {
			out = f
			return storage.ErrRevoked
		}
		if !f.ExpiresAt.After(r.At) {
			out = f
			return storage.ErrExpired
		}
		if !bytes.Equal(f.CurrentHash, r.OldHash) {
			if _, err := s.txExec(ctx, tx, `UPDATE refresh_families SET revoked_at = $2 WHERE id = $1`, f.ID, ms(r.At)); err != nil {
				return s.wrap("revoke reused family", err)
			}
			f.RevokedAt = r.At.Truncate(time.Millisecond)
			out = f
			return storage.ErrReused
		}
		if _, err := s.txExec(ctx, tx, `UPDATE refresh_families SET current_hash = $2, rotated_at = $3, last_access_token_id = $4, last_access_expires = $5 WHERE id = $1`,
			f.ID, r.NewHash, ms(r.At), r.AccessTokenID, ms(r.AccessExpires)); err != nil {
			return s.wrap("rotate refresh token", err)
		}
		if _, err := s.txExec(ctx, tx, `INSERT INTO refresh_tokens (hash, family_id) VALUES ($1, $2)`, r.NewHash, f.ID); err != nil {
			return s.wrap("rotate refresh token", err)
		}
		f.CurrentHash, f.RotatedAt = r.NewHash, tm(ms(r.At))
		f.LastAccessTokenID, f.LastAccessExpires = r.AccessTokenID, tm(ms(r.AccessExpires))
		out = f
		return nil
	}, func(err error) bool { return errors.Is(err, storage.ErrReused) })
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, storage.ErrNotFound
		}
		return out, err
	}
	return out, nil
}

// GetFamilyByToken implements storage.RefreshStore.
func (s *Store) GetFamilyByToken(ctx context.Context, hash []byte) (*storage.RefreshFamily, bool, error) {
	f, err := scanFamily(s.queryRow(ctx, s.read, `SELECT `+familyCols+` FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.hash = $1`, hash))
	if err != nil {
		return nil, false, s.wrap("get family by token", err)
	}
	return f, bytes.Equal(f.CurrentHash, hash), nil
}

// GetFamily implements storage.RefreshStore.
func (s *Store) GetFamily(ctx context.Context, id string) (*storage.RefreshFamily, error) {
	f, err := scanFamily(s.queryRow(ctx, s.read, `SELECT `+familyCols+` FROM refresh_families f WHERE f.id = $1`, id))
	return f, s.wrap("get family", err)
}

// RevokeFamily implements storage.RefreshStore.
func (s *Store) RevokeFamily(ctx context.Context, id string, at time.Time) error {
	_, err := s.exec(ctx, s.write, `UPDATE refresh_families SET revoked_at = $2 WHERE id = $1 AND revoked_at = 0`, id, ms(at))
	return s.wrap("revoke family", err)
}

// RevokeFamilies implements storage.RefreshStore.
func (s *Store) RevokeFamilies(ctx context.Context, userID, clientID string, at time.Time) ([]*storage.RefreshFamily, error) {
	var out []*storage.RefreshFamily
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := s.txQuery(ctx, tx, `UPDATE refresh_families SET revoked_at = $3 WHERE user_id = $1 AND client_id = $2 AND revoked_at = 0 RETURNING `+familyColsBare,
			userID, clientID, ms(at))
		if err != nil {
			return s.wrap("revoke families", err)
		}
		defer rows.Close()
		for rows.Next() {
			f, err := scanFamily(rows)
			if err != nil {
				return s.wrap("revoke families", err)
			}
			f.RevokedAt = time.Time{}
			out = append(out, f)
		}
		return s.wrap("revoke families", rows.Err())
	}, nil)
	return out, err
}

// DeleteExpiredFamilies implements storage.RefreshStore.
func (s *Store) DeleteExpiredFamilies(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.txExec(ctx, tx, `DELETE FROM refresh_tokens WHERE family_id IN (SELECT id FROM refresh_families WHERE expires_at < $1)`, ms(before)); err != nil {
			return s.wrap("delete expired families", err)
		}
		var err error
		n, err = affected(s.txExec(ctx, tx, `DELETE FROM refresh_families WHERE expires_at < $1`, ms(before)))
		return s.wrap("delete expired families", err)
	}, nil)
	return n, err
}
