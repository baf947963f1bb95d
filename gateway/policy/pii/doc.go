// Package pii is the gateway's personal-data and secret policy: detectors
// for e-mail addresses, phone numbers, payment card numbers (Luhn and
// issuer checked), IBANs (ISO 13616 mod-97 checked), IP addresses (v4 and
// v6), secrets (provider API-key shapes, PEM private keys, JWTs, bearer
// tokens, passwords in URLs) and national identifiers (presets with their
// checksums, or operator patterns), and the actions mask, redact and block,
// chosen per detector and per direction.
//
// The directions are the arguments a client sends upstream (tools/call and
// prompts/get), the results that come back (tools/call, prompts/get and
// resources/read results, error responses, and log notifications relayed
// on their streams), and logs: LogString, LogJSON and ReplaceAttr mask text
// bound for the operational log or the audit log, which call them without
// importing this package's middleware.
//
// Structured content and text content are handled the same way: the JSON
// value is walked and every string value rewritten in place, so the result
// stays valid JSON and keeps its shape. Object member names, the _meta
// member, and long base64 payloads under "data" or "blob" (images, audio,
// binary resources) are not scanned. A blocked argument refuses the call
// with jsonrpc.CodeForbidden before it reaches the upstream; a blocked
// result is replaced by a tool result with isError set (or, for prompts and
// resources, which have no such flag, a CodeForbidden error).
//
// Detection is linear-time: hand-written scanners behind cheap triggers,
// and Go's RE2 regular expressions, compiled once in New, only where a
// trigger fired. Findings never leave the policy: refusals and audit notes
// name the kind of data, never the data.
//
// It must not import config, app or another policy.
package pii
