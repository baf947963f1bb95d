// Package load is mcpfort's MCP load generator: virtual users over
// keep-alive HTTP/1.1 that speak Streamable HTTP (the 2025-11-25 session era
// with initialize, or the stateless 2026-07-28 era) and loop tools/call,
// verifying every response's id and content text. It also opens and holds
// many idle sessions, holds GET streams, and fires bursts of new clients.
//
// The generator shares the machine with the server it measures, so its hot
// path is cheap on purpose: requests are assembled into reused buffers,
// responses are read by a small HTTP/1.1 reader and a JSON scanner that
// validate without decoding into Go values, and latencies go into
// fixed-size histograms. Every one of those parsers reads untrusted bytes and
// has a Fuzz test.
//
// It imports only the standard library: it must not import the packages it
// measures (gateway, transport, jsonrpc, mcp), so that a bug there cannot
// hide itself by being shared with the client.
package load
