// Package everything is mcpfort's conformance target: an MCP server, built on
// the official Go SDK, that exposes every tool, resource, resource template and
// prompt the official conformance suite (@modelcontextprotocol/conformance)
// expects from a server under test, for both protocol eras: the session-based
// 2025 revisions (initialize, Mcp-Session-Id, SSE resumability) and the
// stateless 2026-07-28 revision (per-request _meta, MRTR, server/discover).
//
// The same server is what the quick start fronts over stdio and what the
// benchmarks call through its tiny "echo" tool, so it must stay
// self-contained and quick to start.
//
// It must not import any other mcpfort package: it is a peer the gateway is
// tested against, and it must behave like any third-party MCP server.
package everything
