// Package jsonskim navigates JSON that the gateway's chokepoint
// (internal/jsonx, through jsonrpc.Decode) has already validated, without
// validating it again: policies that read a list result (a tools/list of
// a few kilobytes) find members and elements in one light pass instead of
// a full validating scan per lookup.
//
// Only call it on validated bytes. On anything else it never panics, but
// its answers are unspecified (it reports failure where it notices).
// Object keys are compared after unescaping, as jsonx does, so "name" and
// "\u006eame" are the same key.
//
// It imports only the standard library and internal/jsonx.
package jsonskim
