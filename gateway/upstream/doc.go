// Package upstream is the contract between mcpfort's gateway and the MCP
// servers it fronts: the gateway hands an Upstream one client HTTP exchange
// (a POST of one message or a batch, a GET stream, a DELETE) and reads back
// a Reply, a sequence of JSON-RPC messages with their SSE event ids, without
// knowing whether the server is reached over Streamable HTTP (package
// remote) or runs as a local process (package local over the stdio pool).
//
// It imports only the standard library and jsonrpc.
package upstream
