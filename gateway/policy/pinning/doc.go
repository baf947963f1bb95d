// Package pinning is the gateway's defence against tool poisoning and rug
// pulls: each upstream tool definition (name, title, description, input and
// output schema, annotations) is canonicalised with RFC 8785 (JCS) and
// hashed with SHA-256, and only definitions an operator approved (or that
// were trusted on first use, when that option is on) reach clients.
//
// A tool that is new, renamed (the name is part of the hash, so an old
// definition under a new name is new) or changed is quarantined: it is
// removed from tools/list results and tools/call naming it is refused with
// jsonrpc.CodeForbidden, until an operator approves it with "mcpfort tools
// approve". Its definition is recorded as a candidate so that "mcpfort tools
// diff" can show what changed. Calls are checked against the definition the
// upstream currently lists to the caller, from the route's tool catalog
// (gateway.Catalog), which lists the tools again once its list is older than
// its TTL, so a definition that changes without the client listing again is
// caught too. A notifications/tools/list_changed on the reply of any call,
// on a legacy session's GET stream or on a subscriptions/listen stream
// empties the catalog: the next call lists the tools again at once (the
// notification itself reaches the client). A tools/list result replayed on
// a resumed stream is filtered as the list's own reply is.
//
// Definitions are also scanned for injection cues aimed at the model:
// hidden Unicode (tag characters U+E0000-U+E007F, bidirectional controls,
// zero-width and other invisible characters), instructions ("ignore
// previous instructions", "do not tell the user") and exfiltration hints
// (reading ~/.ssh or mcp.json, sending data to a URL). Findings are logged
// and stored with the candidate; by default a definition with findings is
// never trusted on first use and needs an explicit approval.
//
// Pins live in a Store shared by replicas (SQLite embedded default,
// PostgreSQL for several replicas) or in a pin file, which, for the servers
// it names, is the whole approved set.
//
// It must not import config, app or another policy.
package pinning
