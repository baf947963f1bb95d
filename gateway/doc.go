// Package gateway is mcpfort's MCP front door: one Gateway per route serves
// the Streamable HTTP endpoint for both protocol eras (the session-based
// 2025-03-26/2025-06-18/2025-11-25 revisions and the stateless 2026-07-28
// one) and reaches one upstream MCP server, bridging between eras when the
// client and the upstream speak different ones.
//
// Requests are decoded in one validating scan, only as far as routing and
// policy need (the JSON-RPC envelope, params.name/uri/arguments/_meta). A
// Call owns the bytes that go upstream and derives its decoded views from
// them; what the policies leave is forwarded as it is, to every kind of
// upstream and through every era bridge. Each reply event is decoded at most
// once, and SSE replies are relayed one event at a time. Handlers return
// their errors (*Error) and one function writes them. Legacy sessions live
// entirely in their sealed Mcp-Session-Id (package session), so any replica
// serves any session.
//
// The MCP plane is a chain of Middleware around a Handler, in the net/http
// shape: policies (rate limits, tool filters, schema checks, PII masking,
// pinning, audit) wrap the call and, when they need to, its Reply.
//
// It must not import authserver, config or app; upstream implementations
// (gateway/upstream/remote, gateway/upstream/local) are wired in by app.
package gateway
