// Package sqlstore implements storage.Store over database/sql for the SQL
// backends. The sqlite and postgres packages supply the driver, the
// connection pools, the schema migrations and a Dialect; the queries are
// shared and written in PostgreSQL's $n placeholder style, which the SQLite
// driver also accepts.
//
// Times are stored as Unix milliseconds (0 for "not set"), string lists as
// JSON text, digests as bytes. It imports only the standard library and
// mcpfort/storage and mcpfort/oauth; it must not import a driver.
package sqlstore
