// Package remote is mcpfort's Streamable HTTP client for upstream MCP
// servers of both protocol eras. It forwards what the gateway gives it,
// relays SSE replies incrementally (one event at a time, never the whole
// stream) and turns every upstream failure into a typed result the gateway
// can answer with, never a hang.
//
// Spec: 2025-11-25 basic/transports "Streamable HTTP" (client side);
// 2026-07-28 basic/transports/streamable-http.
//
// It imports only the standard library, jsonrpc, mcp, transport and
// gateway/upstream.
package remote
