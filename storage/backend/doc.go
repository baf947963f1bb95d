// Package backend opens the storage backend a database setting names, so
// the binary's commands and its wiring agree on what "sqlite" or a
// postgres:// URL means.
//
// It imports storage, storage/sqlite and storage/postgres; it must not
// import authserver, gateway or config.
package backend
