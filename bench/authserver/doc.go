// Package authserver holds the authorization server's benchmarks: token
// issuance per grant on SQLite and PostgreSQL, dynamic registrations,
// introspection, JWT signing and verification, and lookup latency as the
// store grows. See README.md for the commands and the last results.
//
// It is benchmarks only and imports the packages it measures.
package authserver
