// Package aggregate is a virtual server: one upstream.Upstream over
// several member upstreams (remote, stdio, HTTP+SSE), so that one gateway
// route, with its authorization and every policy, fronts them all.
//
// To the gateway it is a legacy-era (2025-x, session-based) MCP server; to
// each member it is a legacy-era client. A member that speaks only
// 2026-07-28 is put behind the gateway's own era bridge (Bridge). initialize opens a session on
// every member at once and merges their capabilities; the members' own
// session ids and negotiated versions travel in the aggregate's session
// string, which the gateway seals into the client's session id, so any
// replica serves any session of remote members (stdio members run in the
// replica that started them, as for a stdio route).
//
// Tools, prompts and resource templates are listed from every member in
// parallel and merged, each name prefixed with its member's prefix
// (Member.Prefix). Prefixes are distinct and none is a prefix of another,
// so a merged name routes to exactly one member; a member's name whose
// prefixed form would route elsewhere (only possible for the member with
// the empty prefix) is left out of the list and logged, never shadowing
// the other member's entry. tools/call, prompts/get and completion/complete
// go to the member the name routes to, with the prefix removed.
// Resources keep their URIs: reads, subscriptions and completions of
// resource templates are routed by a lookup built from the members'
// resources/list and resources/templates/list answers (exact URI first,
// then the template with the longest literal prefix); a URI two members
// list stays with the first member in configuration order, and the
// second's entry is left out and logged.
//
// Pagination spans members: the cursor the aggregate hands out holds the
// next cursor of every member that has more. Each member has
// Options.Timeout to answer a list (and initialize): a member that is
// slow or failing is left out of that answer and logged, and the others'
// entries are returned. A member that was down when the session began, or
// lost its side of it since, is opened again when the session needs it, at
// most once per Options.Retry (revive.go).
//
// Server messages: a member's requests to the client (sampling,
// elicitation, roots) get ids that name the member, so the client's
// answers go back to it; event ids of a call's stream are prefixed with
// the member's index, so the stream is resumed at the member that sent it.
// The session's GET stream merges the members' GET streams, so
// list_changed and resource updates of any member reach the client; each
// of its events carries an id holding every member's last event id so
// far, so a client that reconnects with Last-Event-ID resumes each
// member's stream where it left it and misses nothing the members still
// hold (get.go).
package aggregate
