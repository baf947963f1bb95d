// Package stdio runs local MCP servers that speak the stdio transport
// (newline-delimited JSON-RPC on stdin/stdout, MCP 2025-11-25
// basic/transports "stdio") and lets many gateway clients share them safely.
//
// A Pool owns the processes of one upstream. Its isolation mode decides who
// shares a process:
//
//   - PerSession (the default): one process per client session, started by
//     Acquire and killed by Conn.Close. Nothing is shared.
//   - PerUser: one process per key (the principal), shared by all of that
//     principal's sessions.
//   - Shared: a bounded set of processes serves every key; each call goes to
//     the process with the fewest calls in flight.
//
// Because a PerUser or Shared process serves several connections, every
// request id is rewritten to an id unique within its process on the way in
// and restored on the way out, and so are progress tokens (in every mode, so
// there is one path to test). Server messages are delivered to exactly one
// connection or dropped, never broadcast: one client must never see another
// client's output.
//
// The pool bounds processes, calls in flight per process and callers waiting
// for either; a caller that cannot be served within the queue deadline gets a
// *jsonrpc.Error with CodeOverloaded, a call whose process dies gets
// CodeUpstreamUnavailable at once. Processes run in their own process group
// and are always killed by group and reaped.
//
// The package imports the standard library, golang.org/x/sys/unix (waitid,
// to signal a process group only while its leader is unreaped), and mcpfort's
// jsonrpc, mcp and internal/jsonx packages. It must not import config, the
// gateway, the authorization server or any storage package: the gateway
// consumes it, not the other way round.
package stdio
