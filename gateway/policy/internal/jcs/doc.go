// Package jcs implements the JSON Canonicalization Scheme of RFC 8785: a
// JSON text is reduced to one byte sequence (object members sorted by the
// UTF-16 code units of their names, no insignificant whitespace, strings
// with the minimal escapes of ECMAScript JSON.stringify, numbers as
// ECMAScript serialises IEEE 754 doubles), so that equal data hashes
// equally wherever it was produced.
//
// The pinning policy hashes tool definitions with it and the audit log
// hashes tool-call arguments and its own records. Input is untrusted: it
// must be I-JSON (RFC 7493): valid UTF-8, no lone surrogates, no duplicate
// member names, numbers within the range of a double. Anything else is an
// error, never a panic.
//
// It reads JSON through the gateway's JSON chokepoint, internal/jsonx (in
// its I-JSON mode), and otherwise imports only the standard library.
package jcs
