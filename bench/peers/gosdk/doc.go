// Command gosdk is the benchmarks' reference MCP server: the official Go
// SDK (github.com/modelcontextprotocol/go-sdk) serving one "echo" tool the
// way its documentation shows, with a typed handler and generated input
// schema.
//
// With -http it serves Streamable HTTP at /mcp, both protocol eras on one
// endpoint: requests whose MCP-Protocol-Version header is 2026-07-28 or
// later go to the SDK's stateless handler, everything else (initialize,
// 2025 sessions, GET streams) to its session handler. Responses are
// application/json unless -sse is given. Without -http it speaks stdio.
//
// Usage:
//
//	gosdk [-http 127.0.0.1:0] [-sse] [-cpuprofile FILE]
//
// In HTTP mode it prints "listening on http://ADDR/mcp" on stderr once it
// accepts connections. It exits on SIGINT or SIGTERM.
package main
