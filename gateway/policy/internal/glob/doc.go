// Package glob compiles the name patterns that gateway policies are
// configured with (tool and prompt names, resource URIs and URI templates).
//
// The syntax is deliberately small: '*' matches any run of characters
// (including '/' and the empty run), '?' matches exactly one character
// (one Unicode code point), and '\' makes the next character literal.
// Everything else matches itself, case-sensitively, as MCP names are
// case-sensitive (2025-11-25 server/tools "Tool Names"). Matching runs in
// time linear in the pattern length times the name length, never
// exponential, so a hostile name cannot stall a policy.
//
// It imports only the standard library and must stay that way; policies
// share it, so it must never import a policy.
package glob
