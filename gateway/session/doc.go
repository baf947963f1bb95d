// Package session seals legacy-era MCP session state into the
// Mcp-Session-Id value itself, so that any gateway replica can open any
// session without a lookup (docs/architecture.md, "State").
//
// A session id is AES-256-GCM ciphertext of a compact binary record (session
// nonce, route, principal binding, negotiated version, upstream session id,
// owner, expiry), prefixed by a key id and Base64url-encoded: visible ASCII
// only, as 2025-11-25 basic/transports "Session Management" requires, and
// unguessable. Keys come from a Keyring that seals with its newest key and
// opens with any, so keys rotate without ending live sessions. Terminated
// sessions are remembered on a Denylist until they would have expired.
//
// It imports only the standard library.
package session
