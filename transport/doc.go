// Package transport holds the wire mechanics of MCP's Streamable HTTP
// transport shared by mcpfort's server side and its upstream client: the
// Server-Sent Events writer and incremental reader, bounded body reading,
// Origin and Host validation against DNS rebinding, and the single writer of
// HTTP-level JSON-RPC errors.
//
// Spec: 2025-11-25 basic/transports "Streamable HTTP"; 2026-07-28
// basic/transports/streamable-http; the SSE format is WHATWG HTML
// "Server-sent events" section 9.2.
//
// It imports only the standard library, internal/jsonx and jsonrpc; it knows
// nothing of sessions, routing or upstreams.
package transport
