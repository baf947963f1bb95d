// Package scopes enforces per-route, per-method and per-tool
// authorization requirements on the MCP plane. A call the principal's
// token does not cover is refused with 403 and one RFC 6750
// insufficient_scope challenge listing every scope the call needs (MCP
// 2026-07-28 basic/authorization "Scope Challenge Handling"); a call whose
// rules name groups or claim values the token does not carry is refused
// with a plain 403 (no challenge: no token the client can ask for changes
// who the user is). List results keep only what the principal may call.
//
// Scopes are hierarchical ("mcp:tools" grants "mcp:tools:read"), as
// resourceserver.Satisfies defines. Group names and claim values compare
// exactly.
//
// It imports gateway, resourceserver, internal/jsonx and jsonrpc; never
// another policy.
package scopes
