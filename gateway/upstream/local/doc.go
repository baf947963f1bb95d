// Package local serves a local MCP server, run as child processes by the
// stdio pool (gateway/upstream/stdio), as a gateway upstream.
//
// Legacy-era sessions map onto pool conns: each client session gets its own
// conn (and, with per-session isolation, its own process). Because the
// gateway, not the process, produces the SSE stream here, this package also
// keeps each session's recent events so that a client can resume a stream
// with GET and Last-Event-ID (2025-11-25 basic/transports "Resumability and
// Redelivery"): event ids are "<stream>.<seq>", unique within the session and
// naming their stream, and a resumed stream replays only its own events. A
// legacy client that disconnects does not cancel its request; the call runs
// to completion into the buffer. 2026-07-28 requests are stateless: they go
// to a conn per principal, and closing the stream cancels the call.
//
// It imports the standard library, jsonrpc, mcp, gateway/upstream and
// gateway/upstream/stdio.
package local
