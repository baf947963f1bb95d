// Package servermsg reads the few members of server-to-client messages
// and of subscriptions/listen requests that the access policies
// (toolfilter, scopes, pinning) decide on, so that they judge what comes
// back on a stream the way they judge calls and lists.
//
// Which server-to-client messages name something a caller may be denied:
//
//   - notifications/resources/updated names a resource by params.uri
//     (2025-11-25 server/resources "Subscriptions", 2026-07-28
//     basic/patterns/subscriptions): dropped when the caller may not read
//     the resource.
//   - notifications/tools/list_changed (and the prompt and resource list
//     changes) name nothing and pass; pinning learns from the tool one
//     that the definitions it approved may be stale.
//   - notifications/message, progress, cancelled, elicitation/complete and
//     the server's requests (sampling/createMessage, elicitation/create,
//     roots/list, ping) name no tool, prompt or resource of the server and
//     pass. The tools a sampling request offers the model are the server's
//     own sampling tools, run by the server, not tools the client can call.
//   - a response on a resumed stream (2025-11-25 transports "Resumability
//     and Redelivery") answers a request the policies no longer see: a
//     list result in it is filtered by its shape (result.tools, prompts,
//     resources, resourceTemplates).
//
// It imports only jsonrpc, mcp and internal/jsonx.
package servermsg
