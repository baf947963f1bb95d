// Package jsonx is the single chokepoint for untrusted JSON in mcpfort: one
// validating tokenizer (Decoder) that every reader of JSON on the MCP plane
// uses, navigation by member name built on it, and in-place object edits
// that never re-encode the parts they do not touch.
//
// The rules, the same for every reader:
//
//   - RFC 8259 grammar, exactly one value with only whitespace around it;
//   - strings are valid UTF-8: invalid bytes are an error, never replaced;
//   - nesting is bounded (DefaultMaxDepth, or the caller's limit);
//   - member names are compared after unescaping, byte for byte: "method"
//     and "\u006dethod" are one name, "Method" is another;
//   - a member name repeated in an object, at any depth, is an error.
//     RFC 8259 section 4 only says names SHOULD be unique, and readers
//     disagree on which of two wins; a gateway that read one while the
//     server behind it read the other could be steered past its policies;
//   - an escaped surrogate that is not half of a pair decodes to U+FFFD,
//     as encoding/json decodes it; Options.IJSON refuses it (RFC 7493).
//
// The gateway decodes only what it must (the JSON-RPC envelope, a few params
// fields) and forwards everything else as the bytes it received, so tokens
// are spans of the input and nothing is copied unless a caller asks for a
// string's text.
//
// It imports only the standard library and must stay that way.
package jsonx
