package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrate applies, in tx, the migrations in dir of fsys that the database
// has not seen, in version order. Files are named NNNN_description.sql;
// NNNN is the version. The versions applied are recorded in table, one per
// set of migrations (the authorization server's, the audit log's, the
// pins'), so that each set is numbered on its own. A database that records
// a version newer than any file is refused: it was migrated by a newer
// mcpfort and this one would misread it.
func migrate(ctx context.Context, tx *sql.Tx, d Dialect, fsys fs.FS, dir, table string) error {
	type migration struct {
		version int
		name    string
	}
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("%s: read migrations: %w", d.Name, err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return fmt.Errorf("%s: migration %q: name must be NNNN_description.sql", d.Name, name)
		}
		ms = append(ms, migration{v, name})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return fmt.Errorf("%s: duplicate migration version %d", d.Name, ms[i].version)
		}
	}

	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("%s: create %s: %w", d.Name, table, err)
	}
	var current sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM `+table).Scan(&current); err != nil {
		return fmt.Errorf("%s: read schema version: %w", d.Name, err)
	}
	latest := 0
	if len(ms) > 0 {
		latest = ms[len(ms)-1].version
	}
	if int(current.Int64) > latest {
		return fmt.Errorf("%s: %s records schema version %d, newer than this binary's %d", d.Name, table, current.Int64, latest)
	}
	for _, m := range ms {
		if m.version <= int(current.Int64) {
			continue
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, m.name))
		if err != nil {
			return fmt.Errorf("%s: read migration %s: %w", d.Name, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("%s: apply migration %s/%s: %w", d.Name, dir, m.name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.version, m.name, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("%s: record migration %s: %w", d.Name, m.name, err)
		}
	}
	return nil
}

// migrationSets are the sets of migrations a database holds, each under its
// own directory and recorded in its own table: the authorization server's
// data, the audit log and the tool pins. The audit and pin tables are those
// their stores kept before they joined this one, so databases created then
// are read as they are.
var migrationSets = []struct{ dir, table string }{
	{"migrations", "mcpfort_schema_migrations"},
	{"migrations/audit", "mcpfort_audit_migrations"},
	{"migrations/pinning", "mcpfort_pinning_migrations"},
	{"migrations/vault", "mcpfort_vault_migrations"},
}

// MigrateAll applies every set of migrations under fsys (see migrate) in
// one transaction, so a failed migration leaves the schema as it was, and
// replicas starting together (serialized by d.MigrationLock) apply each
// once.
func MigrateAll(ctx context.Context, db *sql.DB, d Dialect, fsys fs.FS) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: migrate: %w", d.Name, err)
	}
	defer func() { _ = tx.Rollback() }()
	if d.MigrationLock != "" {
		if _, err := tx.ExecContext(ctx, d.MigrationLock); err != nil {
			return fmt.Errorf("%s: migration lock: %w", d.Name, err)
		}
	}
	for _, m := range migrationSets {
		if err := migrate(ctx, tx, d, fsys, m.dir, m.table); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit migrations: %w", d.Name, err)
	}
	return nil
}
