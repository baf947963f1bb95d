// Command fastecho is a minimal hand-written MCP server for the legacy era
// (2025-11-25) over Streamable HTTP: initialize, notifications, ping,
// tools/list and tools/call "echo", answered as application/json with
// encoding/json and no SDK. It exists to measure a gateway's own cost: put
// in front of it, the gateway is the bottleneck instead of a slow
// upstream, as the bare handler is in its own row.
//
// It assigns a session id at initialize but keeps no session state, so any
// id is accepted afterwards; DELETE answers 200.
//
// Usage:
//
//	fastecho [-addr 127.0.0.1:0] [-sse] [-delay 1ms]
//
// -sse answers tools/call as an event stream of one message event (the
// same JSON-RPC response), to compare what relaying either form costs a
// gateway; -delay waits before answering tools/call, to see whether a
// gateway's cost per call grows with its upstream's latency.
//
// It prints "listening on http://ADDR/mcp" on stderr when ready and exits
// on SIGINT or SIGTERM. It imports only the standard library.
package main
