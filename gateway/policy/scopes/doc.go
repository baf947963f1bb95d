// Package scopes enforces per-route, per-method and per-tool
// authorization requirements on the MCP plane. A call the principal's
// token does not cover is refused with 403 and one RFC 6750
// insufficient_scope challenge listing every scope the call needs (MCP
// 2026-07-28 basic/authorization "Scope Challenge Handling"); a call whose
// rules name groups or claim values the token does not carry is refused
// with a plain 403 (no challenge: no token the client can ask for changes
// who the user is). List results keep only what the principal may call.
// subscriptions/listen needs what a resources/subscribe of each URI it
// subscribes to needs. On the reply of every call, on a legacy session's
// GET stream and on subscriptions/listen streams, a
// notifications/resources/updated about a resource the principal may not
// read is dropped (a session outlives the token that opened it: the
// token presented with the stream decides), and a list result replayed on
// a resumed stream is filtered by its shape.
//
// Scopes are hierarchical ("mcp:tools" grants "mcp:tools:read"), as
// resourceserver.Satisfies defines. Group names and claim values compare
// exactly.
//
// It imports gateway, resourceserver, internal/jsonx, jsonrpc and
// gateway/policy/internal; never another policy.
package scopes
