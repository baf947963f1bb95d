// Package keys manages the authorization server's token-signing keys:
// generation (ES256 by default; RS256 and EdDSA on request), a rotation
// schedule with overlap, the public JWK Set (RFC 7517 section 5), signing
// and verifying the server's own JWTs, and sealing private keys at rest
// with AES-256-GCM under a key-encryption key.
//
// Schedule. Each key signs for RotationPeriod. Its successor is created and
// published PublishAhead before it starts signing, so resource servers
// that cache the JWKS already know it; a key stays published RetainAfter
// past the moment it stopped signing, so tokens it signed stay verifiable
// until they expire. Replicas sharing a store agree on one successor: keys
// carry a generation number and the store refuses a duplicate.
//
// It imports storage and github.com/go-jose/go-jose/v4 (the project's JOSE
// library, confined to this package and authserver); it must not import
// authserver, gateway or config.
package keys
