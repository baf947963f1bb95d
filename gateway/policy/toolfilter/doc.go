// Package toolfilter is the gateway's allow/deny policy for what an
// upstream server exposes: tools (by name), prompts (by name) and resources
// (by URI, and resource templates by their URI template text), per server
// and per OAuth scope.
//
// It is an MCP-plane middleware (gateway.Middleware). Hidden entries are
// removed from tools/list, prompts/list, resources/list and
// resources/templates/list results in both protocol eras, whether the
// upstream answers with JSON or an SSE stream; calls that name a hidden
// entry (tools/call, prompts/get, resources/read, resources/subscribe,
// completion/complete) are refused with jsonrpc.CodeForbidden before they
// reach the upstream; subscriptions/listen is checked as a
// resources/subscribe of each URI it subscribes to. What comes back is
// judged too, on the reply of every call, on a legacy session's GET
// stream and on subscriptions/listen streams: a
// notifications/resources/updated about a hidden resource is dropped, and
// a list result replayed on a resumed stream is filtered by its shape
// (see gateway/policy/internal/servermsg for each server message). The set
// of tools may vary by the authorization
// presented, which the protocol allows (2026-07-28 server/tools
// "Capabilities").
//
// It must not import config, app or another policy.
package toolfilter
