// Package jsonx is the single chokepoint for untrusted JSON in mcpfort: a
// validating scanner (strict UTF-8, RFC 8259 grammar, bounded nesting depth,
// no duplicate object keys) and in-place object edits that never re-encode the
// parts they do not touch.
//
// The gateway decodes only what it must (the JSON-RPC envelope, a few params
// fields) and forwards everything else as the bytes it received, so the
// scanner reports raw value spans instead of building Go values. Object keys
// are compared after unescaping and duplicate keys are rejected, so the
// gateway can never read a different member than the upstream server does
// ("method" and "\u006dethod" are the same key, and only one may appear).
//
// It imports only the standard library and must stay that way.
package jsonx
