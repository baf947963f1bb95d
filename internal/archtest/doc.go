// Package archtest holds the one test of mcpfort's import graph: a table of
// layers and sides saying which package may import which, the few
// sideways imports made on purpose, and the third-party budget (which
// packages, or files, may import each third-party module).
// docs/architecture.md describes the same table. It also holds the rule
// that the MCP plane reads JSON through internal/jsonx (TestJSONChokepoint).
// It has no code of its own.
package archtest
