package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

const clientCols = `id, source, secret_hash, registration_token_hash, metadata, created_at, updated_at, last_used_at, secret_expires_at`

func scanClient(sc scanner) (*storage.Client, error) {
	var (
		c                                    storage.Client
		meta                                 string
		created, updated, used, secretExpiry int64
	)
	if err := sc.Scan(&c.ID, &c.Source, &c.SecretHash, &c.RegistrationTokenHash, &meta, &created, &updated, &used, &secretExpiry); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(meta), &c.Metadata); err != nil {
		return nil, fmt.Errorf("decode client metadata: %w", err)
	}
	c.CreatedAt, c.UpdatedAt, c.LastUsedAt, c.SecretExpiresAt = tm(created), tm(updated), tm(used), tm(secretExpiry)
	return &c, nil
}

// CreateClient implements storage.ClientStore.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client) error {
	meta, err := json.Marshal(c.Metadata)
	if err != nil {
		return fmt.Errorf("encode client metadata: %w", err)
	}
	_, err = s.exec(ctx, s.write, `INSERT INTO clients (`+clientCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, c.Source, nullBytes(c.SecretHash), nullBytes(c.RegistrationTokenHash), string(meta),
		ms(c.CreatedAt), ms(c.UpdatedAt), ms(c.LastUsedAt), ms(c.SecretExpiresAt))
	return s.wrap("create client", err)
}

// GetClient implements storage.ClientStore.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c, err := scanClient(s.queryRow(ctx, s.read, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	return c, s.wrap("get client", err)
}

// UpdateClient implements storage.ClientStore.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	meta, err := json.Marshal(c.Metadata)
	if err != nil {
		return fmt.Errorf("encode client metadata: %w", err)
	}
	return s.wrap("update client", mustAffect(s.exec(ctx, s.write,
		`UPDATE clients SET secret_hash = $2, registration_token_hash = $3, metadata = $4, updated_at = $5, secret_expires_at = $6 WHERE id = $1`,
		c.ID, nullBytes(c.SecretHash), nullBytes(c.RegistrationTokenHash), string(meta), ms(c.UpdatedAt), ms(c.SecretExpiresAt))))
}

// DeleteClient implements storage.ClientStore.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.wrap("delete client", mustAffect(s.exec(ctx, s.write, `DELETE FROM clients WHERE id = $1`, id)))
}

// TouchClient implements storage.ClientStore.
func (s *Store) TouchClient(ctx context.Context, id string, at time.Time, granularity time.Duration) error {
	_, err := s.exec(ctx, s.write, `UPDATE clients SET last_used_at = $2 WHERE id = $1 AND last_used_at < $3`,
		id, ms(at), ms(at.Add(-granularity)))
	return s.wrap("touch client", err)
}

// DeleteStaleClients implements storage.ClientStore.
func (s *Store) DeleteStaleClients(ctx context.Context, neverUsedBefore, idleBefore time.Time) (int, error) {
	n, err := affected(s.exec(ctx, s.write,
		`DELETE FROM clients WHERE source = $1 AND ((last_used_at = 0 AND created_at < $2) OR (last_used_at > 0 AND last_used_at < $3))`,
		storage.ClientDynamic, ms(neverUsedBefore), ms(idleBefore)))
	return n, s.wrap("delete stale clients", err)
}
