package sqlstore

import (
	"context"
	"time"

	"github.com/mcpfort/mcpfort/storage"
)

// GetCIMD implements storage.CIMDCache.
func (s *Store) GetCIMD(ctx context.Context, url string) (*storage.CIMDEntry, error) {
	var (
		e                storage.CIMDEntry
		fetched, expires int64
	)
	err := s.queryRow(ctx, s.read, `SELECT url, document, fetched_at, expires_at FROM cimd_cache WHERE url = $1`, url).
		Scan(&e.URL, &e.Document, &fetched, &expires)
	if err != nil {
		return nil, s.wrap("get cimd", err)
	}
	e.FetchedAt, e.ExpiresAt = tm(fetched), tm(expires)
	return &e, nil
}

// PutCIMD implements storage.CIMDCache.
func (s *Store) PutCIMD(ctx context.Context, e *storage.CIMDEntry) error {
	_, err := s.exec(ctx, s.write, `INSERT INTO cimd_cache (url, document, fetched_at, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (url) DO UPDATE SET document = excluded.document, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
		e.URL, e.Document, ms(e.FetchedAt), ms(e.ExpiresAt))
	return s.wrap("put cimd", err)
}

// DeleteCIMD implements storage.CIMDCache.
func (s *Store) DeleteCIMD(ctx context.Context, url string) error {
	_, err := s.exec(ctx, s.write, `DELETE FROM cimd_cache WHERE url = $1`, url)
	return s.wrap("delete cimd", err)
}

// DeleteExpiredCIMD implements storage.CIMDCache.
func (s *Store) DeleteExpiredCIMD(ctx context.Context, before time.Time) (int, error) {
	n, err := affected(s.exec(ctx, s.write, `DELETE FROM cimd_cache WHERE expires_at < $1`, ms(before)))
	return n, s.wrap("delete expired cimd", err)
}
