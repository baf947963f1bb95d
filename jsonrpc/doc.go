// Package jsonrpc is the JSON-RPC 2.0 envelope as mcpfort handles it: a lazy
// decoder that validates a message once and exposes its id, method and raw
// params/result/error without decoding them, typed errors with the JSON-RPC
// and MCP error codes, and encoders that build responses by appending bytes.
//
// Every message is validated by internal/jsonx (strict UTF-8, bounded depth,
// no duplicate keys) before any field is read.
//
// It imports only the standard library and internal/jsonx.
package jsonrpc
