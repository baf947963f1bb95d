// Package schema checks tools/call arguments before they reach the
// upstream: against the tool's own inputSchema (JSON Schema 2020-12 by
// default, or the dialect its $schema names), then against operator
// constraints layered on top (lengths, patterns, enums, numeric ranges,
// denied values per argument path).
//
// Invalid arguments are answered with a tool result whose isError is true
// and whose text names each failing field, as MCP asks for input
// validation errors (2025-11-25 and 2026-07-28 server/tools "Error
// Handling"); the upstream is never called. Tool definitions come from the
// route's tool catalog (gateway.Catalog), which lists the upstream's tools
// as the caller and keeps the list for its TTL. Each distinct definition's
// schema is compiled once and cached, keyed by route and definition hash.
//
// Schemas come from the upstream and arguments from the client, so both are
// bounded: a $ref to anything but the schema itself is never fetched and
// makes the schema unusable (2026-07-28 basic "$ref Resolution"); schemas
// whose validation could blow up (nested anyOf over shared definitions,
// fan-out recursion) are refused at compile time by a static cost bound
// (basic "Composition-Keyword Resource Use"); arguments are bounded in
// depth, size and number magnitude before validation.
//
// It must not import config, app or another policy. The validator library
// (github.com/santhosh-tekuri/jsonschema/v6) stays inside this package.
package schema
