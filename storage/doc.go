// Package storage declares what mcpfort persists and the contract every
// backend must meet: for the authorization server, clients, users,
// consents, authorization codes, refresh-token families, revoked and
// single-use token identifiers, signing keys and the client ID metadata
// document cache; for the gateway, the audit log's rows and chain head
// (AuditStore: the audit policy hashes and chains, the store keeps bytes)
// and tool pins and candidates (PinStore).
//
// The interfaces are split by capability so a consumer can ask for only what
// it uses; Store is the authorization server's union and Backend everything
// a backend implements. Backends live in subpackages (sqlite, the embedded
// default; postgres, for clusters) and all pass the storagetest conformance
// suites. A process opens one Backend per database (backend.Open) and
// shares it.
//
// Secrets never reach a backend in clear: client secrets, registration
// access tokens, authorization codes and refresh tokens are handed over as
// SHA-256 digests, passwords as argon2id hashes, and signing keys sealed
// with AES-GCM. A dump of the database therefore yields nothing a client
// could present.
//
// Times are stored with millisecond precision; a zero time.Time means "not
// set". It imports only the standard library and mcpfort/oauth; it must not
// import authserver, resourceserver, gateway or config.
package storage
