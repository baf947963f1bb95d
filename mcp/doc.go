// Package mcp is the protocol vocabulary mcpfort needs to route and police
// Model Context Protocol traffic without implementing an MCP server itself:
// protocol versions and eras, method and header names, the reserved _meta
// keys, the request fields the gateway reads (name, uri, _meta), and the
// Base64 sentinel encoding of header values.
//
// Spec: modelcontextprotocol/modelcontextprotocol, docs/specification/
// 2025-03-26, 2025-06-18, 2025-11-25 (legacy era) and 2026-07-28 (modern era).
//
// It imports only the standard library, internal/jsonx and jsonrpc.
package mcp
