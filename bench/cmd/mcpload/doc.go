// Command mcpload drives MCP tools/call load at one Streamable HTTP
// endpoint and reports calls/s, latency percentiles, failures, the load
// generator's own CPU per call and, given the server's PID, the server's CPU
// per call and resident memory.
//
// Usage:
//
//	mcpload -url http://127.0.0.1:8080/mcp [-era legacy|modern|none]
//	        [-vus 32] [-warmup 1s] [-duration 5s] [-check echo|shape]
//	        [-pid PID [-tree]]
//
// Each virtual user keeps one connection, initializes once (legacy era)
// and loops tools/call "echo", verifying every response. With -tree the
// CPU of the server's descendants (stdio children) is reported separately.
// The exit status is 1 when any call failed.
package main
