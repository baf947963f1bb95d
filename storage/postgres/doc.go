// Package postgres is mcpfort's clustered storage backend: PostgreSQL
// through github.com/jackc/pgx/v5 behind database/sql (the stdlib adapter,
// so the shared SQL code in storage/internal/sqlstore serves both
// backends; pgx still caches prepared statements per connection). Any
// number of mcpfort replicas may share one database: rotations and code
// redemptions lock the rows they change, and migrations take an advisory
// lock.
//
// It imports storage and storage/internal/sqlstore; it must not import
// authserver, gateway or config.
package postgres
