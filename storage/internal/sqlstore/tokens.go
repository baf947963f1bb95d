package sqlstore

import (
	"context"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// Access-token denials and single-use identifiers share one table; the
// prefix keeps the two namespaces apart.
const (
	denyPrefix = "deny:"
	oncePrefix = "once:"
)

// DenyAccessToken implements storage.TokenStore.
func (s *Store) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	_, err := s.exec(ctx, s.write, `INSERT INTO token_marks (id, expires_at) VALUES ($1, $2)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at`, denyPrefix+jti, ms(expiresAt))
	return s.wrap("deny access token", err)
}

// AccessTokenDenied implements storage.TokenStore.
func (s *Store) AccessTokenDenied(ctx context.Context, jti string) (bool, error) {
	var n int
	err := s.queryRow(ctx, s.read, `SELECT COUNT(*) FROM token_marks WHERE id = $1`, denyPrefix+jti).Scan(&n)
	return n > 0, s.wrap("access token denied", err)
}

// UseOnce implements storage.TokenStore.
func (s *Store) UseOnce(ctx context.Context, id string, expiresAt time.Time) error {
	n, err := affected(s.exec(ctx, s.write, `INSERT INTO token_marks (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		oncePrefix+id, ms(expiresAt)))
	if err != nil {
		return s.wrap("use once", err)
	}
	if n == 0 {
		return storage.ErrAlreadyUsed
	}
	return nil
}

// DeleteExpiredTokens implements storage.TokenStore.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int, error) {
	n, err := affected(s.exec(ctx, s.write, `DELETE FROM token_marks WHERE expires_at < $1`, ms(before)))
	return n, s.wrap("delete expired tokens", err)
}
