// Package seal seals short values (session ids, DPoP nonces, the
// authorization server's cookies and pending requests) with AES-256-GCM
// under keys derived from long-lived secrets with HKDF-SHA256 (RFC 5869),
// one info string per use, so that one secret serves several uses with
// independent keys.
//
// A sealed value is base64url without padding (RFC 4648 section 5) of
// [key id] || 12-byte random nonce || ciphertext and tag. The first key
// seals; every key opens, so a secret rotates without refusing what the
// previous one sealed. With Options.KeyID, one byte (the first of SHA-256
// over the derived key) names the sealing key and Open tries only the
// keys it names; without it, Open tries each key in turn. The caller's
// additional data binds a value to its purpose.
//
// Foundation layer: it imports only the standard library.
package seal
