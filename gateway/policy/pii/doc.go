// Package pii is the gateway's personal-data and secret policy: detectors
// for e-mail addresses, phone numbers, payment card numbers (Luhn and
// issuer checked), IBANs (ISO 13616 mod-97 checked), IP addresses (v4 and
// v6), secrets (provider API-key shapes, PEM private keys, JWTs, bearer
// tokens, passwords in URLs) and national identifiers (presets with their
// checksums, or operator patterns), and the actions mask, redact and block,
// chosen per detector and per direction.
//
// The directions are what a client sends upstream (tools/call and
// prompts/get arguments, the inputResponses with which a 2026-07-28 client
// answers a server's input requests, a legacy client's responses to
// sampling/createMessage, elicitation/create and roots/list, and its
// notifications), what comes
// back (tools/call, prompts/get and resources/read results, error
// responses, every notification and every server-to-client request on the
// reply of any request and on a legacy session's GET stream, resumed
// streams included), and logs: LogString, LogJSON and ReplaceAttr mask
// text bound for the operational log or the audit log, which call them
// without importing this package's middleware.
//
// Structured content and text content are handled the same way: the JSON
// value is walked and every string value and member name rewritten in
// place, so the result stays valid JSON and keeps its shape (member names
// that masking made equal are numbered, since readers refuse duplicate
// keys). Not scanned: the _meta member (protocol metadata), except inside
// structuredContent and arguments, which are the tool's own data; a
// progress token and a request id the client chose; and long base64
// payloads under "data" or "blob" (images, audio, binary resources),
// judged on the string's decoded text so that escapes cannot pass text off
// as base64. A blocked argument or input response refuses the call with
// jsonrpc.CodeForbidden before it reaches the upstream, and a blocked
// client answer reaches the upstream as a CodeForbidden error response; a
// blocked result is replaced by a tool result with isError set (or, for
// prompts and resources, which have no such flag, a CodeForbidden error),
// a blocked log message by a notice without it; in other notifications and
// in server-to-client requests, which must still reach the client, a
// blocked value is redacted.
//
// Detection is linear-time: hand-written scanners behind cheap triggers,
// and Go's RE2 regular expressions, compiled once in New, only where a
// trigger fired. Findings never leave the policy: refusals and audit notes
// name the kind of data, never the data.
//
// It must not import config, app or another policy.
package pii
