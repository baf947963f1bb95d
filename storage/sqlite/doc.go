// Package sqlite is mcpfort's embedded storage backend: a single SQLite
// database file driven by modernc.org/sqlite, a pure-Go driver, so the
// binary needs no C toolchain. The schema is migrated on Open from the
// versioned SQL files embedded in the package.
//
// It imports storage, storage/internal/sqlstore and internal/statefile;
// it must not import authserver, gateway or config.
package sqlite
