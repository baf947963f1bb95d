package sqlstore

import (
	"context"

	"github.com/mcpfort/mcpfort/storage"
)

// ListSigningKeys implements storage.KeyStore.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	rows, err := s.query(ctx, s.read, `SELECT id, algorithm, generation, private_key, public_jwk, created_at, active_at, expires_at FROM signing_keys ORDER BY generation`)
	if err != nil {
		return nil, s.wrap("list signing keys", err)
	}
	defer rows.Close()
	var out []*storage.SigningKey
	for rows.Next() {
		var (
			k                        storage.SigningKey
			jwk                      string
			created, active, expires int64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &k.Generation, &k.PrivateKeyCiphertext, &jwk, &created, &active, &expires); err != nil {
			return nil, s.wrap("list signing keys", err)
		}
		k.PublicJWK = []byte(jwk)
		k.CreatedAt, k.ActiveAt, k.ExpiresAt = tm(created), tm(active), tm(expires)
		out = append(out, &k)
	}
	return out, s.wrap("list signing keys", rows.Err())
}

// CreateSigningKey implements storage.KeyStore.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	_, err := s.exec(ctx, s.write, `INSERT INTO signing_keys (id, algorithm, generation, private_key, public_jwk, created_at, active_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.ID, k.Algorithm, k.Generation, k.PrivateKeyCiphertext, string(k.PublicJWK), ms(k.CreatedAt), ms(k.ActiveAt), ms(k.ExpiresAt))
	return s.wrap("create signing key", err)
}

// DeleteSigningKey implements storage.KeyStore.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.wrap("delete signing key", mustAffect(s.exec(ctx, s.write, `DELETE FROM signing_keys WHERE id = $1`, id)))
}
