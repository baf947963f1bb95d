// Command bare is the benchmarks' floor: a net/http server whose handler
// reads each POST body and answers with one fixed JSON-RPC tools/call
// result, with no MCP logic at all. Whatever a real MCP server or gateway
// spends per call beyond this is the price of doing MCP.
//
// Usage:
//
//	bare [-addr 127.0.0.1:0]
//
// It prints "listening on http://ADDR/mcp" on stderr once it accepts
// connections, and exits on SIGINT or SIGTERM. It imports only the
// standard library.
package main
