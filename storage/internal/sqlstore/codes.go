package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

const codeCols = `hash, client_id, user_id, redirect_uri, code_challenge, scopes, resources, auth_time, created_at, expires_at, used_at, family_id, access_token_id, access_expires, nonce`

func scanCode(sc scanner) (*storage.AuthCode, error) {
	var (
		c                                       storage.AuthCode
		scopes, resources                       string
		authTime, created, expires, used, accEx int64
	)
	if err := sc.Scan(&c.Hash, &c.ClientID, &c.UserID, &c.RedirectURI, &c.CodeChallenge, &scopes, &resources,
		&authTime, &created, &expires, &used, &c.FamilyID, &c.AccessTokenID, &accEx, &c.Nonce); err != nil {
		return nil, err
	}
	var err error
	if c.Scopes, err = plist(scopes); err != nil {
		return nil, err
	}
	if c.Resources, err = plist(resources); err != nil {
		return nil, err
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt, c.UsedAt, c.AccessExpires = tm(authTime), tm(created), tm(expires), tm(used), tm(accEx)
	return &c, nil
}

// CreateCode implements storage.CodeStore.
func (s *Store) CreateCode(ctx context.Context, c *storage.AuthCode) error {
	_, err := s.exec(ctx, s.write, `INSERT INTO auth_codes (`+codeCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
		c.Hash, c.ClientID, c.UserID, c.RedirectURI, c.CodeChallenge, jlist(c.Scopes), jlist(c.Resources),
		ms(c.AuthTime), ms(c.CreatedAt), ms(c.ExpiresAt), ms(c.UsedAt), c.FamilyID, c.AccessTokenID, ms(c.AccessExpires), c.Nonce)
	return s.wrap("create code", err)
}

// ConsumeCode implements storage.CodeStore. Each path is one UPDATE ...
// RETURNING, so the check and the mark cannot be separated.
func (s *Store) ConsumeCode(ctx context.Context, hash []byte, at time.Time) (*storage.AuthCode, error) {
	c, err := scanCode(s.queryRow(ctx, s.write,
		`UPDATE auth_codes SET used_at = $2 WHERE hash = $1 AND used_at = 0 RETURNING `+codeCols, hash, ms(at)))
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, s.wrap("consume code", err)
	}
	replayed, err := scanCode(s.queryRow(ctx, s.write, `UPDATE auth_codes SET replayed = TRUE WHERE hash = $1 RETURNING `+codeCols, hash))
	if err != nil {
		return nil, s.wrap("consume code", err)
	}
	return replayed, storage.ErrAlreadyUsed
}

// IssueFromCode implements storage.CodeStore.
func (s *Store) IssueFromCode(ctx context.Context, hash []byte, family *storage.RefreshFamily, accessTokenID string, accessExpires time.Time) error {
	familyID := ""
	if family != nil {
		familyID = family.ID
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.txExec(ctx, tx,
			`UPDATE auth_codes SET family_id = $2, access_token_id = $3, access_expires = $4 WHERE hash = $1 AND replayed = FALSE`,
			hash, familyID, accessTokenID, ms(accessExpires))
		if err := mustAffect(res, err); err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				return s.wrap("issue from code", err)
			}
			var one int
			if err := s.txQueryRow(ctx, tx, `SELECT 1 FROM auth_codes WHERE hash = $1`, hash).Scan(&one); err != nil {
				return s.wrap("issue from code", err)
			}
			return storage.ErrAlreadyUsed
		}
		if family != nil {
			return s.insertFamily(ctx, tx, family)
		}
		return nil
	}, nil)
}

// DeleteExpiredCodes implements storage.CodeStore.
func (s *Store) DeleteExpiredCodes(ctx context.Context, before time.Time) (int, error) {
	n, err := affected(s.exec(ctx, s.write, `DELETE FROM auth_codes WHERE expires_at < $1`, ms(before)))
	return n, s.wrap("delete expired codes", err)
}
