// Package scopes enforces per-route, per-method and per-tool OAuth scope
// requirements on the MCP plane: a call the principal's token does not
// cover is refused with 403 and one RFC 6750 insufficient_scope challenge
// listing every scope the call needs (MCP 2026-07-28
// basic/authorization "Scope Challenge Handling"), and list results keep
// only what the principal may call.
//
// Scopes are hierarchical ("mcp:tools" grants "mcp:tools:read"), as
// resourceserver.Satisfies defines.
//
// It imports gateway, resourceserver, internal/jsonx and jsonrpc; never
// another policy.
package scopes
