// Package sse reaches MCP servers that speak the HTTP+SSE transport of
// protocol version 2024-11-05 (specification 2024-11-05 basic/transports
// "HTTP with SSE"), deprecated since 2025-03-26 but still served by many
// servers, as a gateway upstream.
//
// The transport has no session header: a session is one long-lived GET
// event stream. The server's first "endpoint" event names the URI the
// client POSTs every message to; the POST answers 202 and the server's
// responses, notifications and requests all arrive on the GET stream.
//
// To the gateway the package looks like a legacy-era (2025-11-25 and
// earlier) Streamable HTTP upstream that assigns sessions: an initialize
// request without a session opens a new stream and the reply names it in
// upstream.Info.Session; later requests carry that session. So each
// legacy client session gets a stream of its own, and the gateway's
// per-principal upstream sessions for 2026-07-28 clients get one each.
//
// Because answers arrive on the shared stream, request ids are rewritten
// on the way up (a counter per stream) and restored on the way back, and
// a response goes to the reply of the request it answers. A notification
// carrying the progress token of a pending request goes to that request's
// reply; every other server message (other notifications, server-to-client
// requests) goes to the session's standalone stream (upstream.Upstream.Get).
//
// Bounds: a maximum number of streams, a maximum event size, idle streams
// closed after a timeout, the endpoint accepted only on the stream's own
// origin, redirects never followed, and a stream that ends failing its
// pending requests with a JSON-RPC error rather than leaving them waiting.
// There is no resumption: the transport has none.
//
// It imports the standard library, jsonrpc, mcp, transport, internal/jsonx
// and gateway/upstream.
package sse
